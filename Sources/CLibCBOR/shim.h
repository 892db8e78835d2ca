// CLibCBOR: libcbor (Debian libcbor-dev 0.8) as seen from Swift.
// Only ChronetixCBOR imports this module; no libcbor type crosses that module's API.
#ifndef CHRONETIX_CLIBCBOR_SHIM_H
#define CHRONETIX_CLIBCBOR_SHIM_H

#include <cbor.h>

#endif
