// Placeholder: the cross-process ring peer is being written.
print("chronetix-ring-peer")
