// Force-included into ggml's sources (CMakeLists.txt). GCC 12's _tile_loadconfig tells the
// compiler it reads only 8 bytes of the 64-byte tile configuration, so the stores that fill in
// the tile shapes are dropped as dead and the first AMX instruction raises SIGILL (seen on
// Sapphire Rapids with Debian 12's GCC 12.2; GCC 13 fixed the header). Same instruction, with
// the whole configuration as the operand.
#pragma once
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13 && defined(__AMX_TILE__)
#include <immintrin.h>
static inline __attribute__((__always_inline__)) void potron_tile_loadconfig(const void* config) {
  __asm__ volatile("ldtilecfg\t%X0" ::"m"(*(const unsigned char(*)[64])config));
}
#define _tile_loadconfig potron_tile_loadconfig
#endif
