/// CBOR encoding and decoding of Chronetix values, on libcbor.
public enum CBOR {}
