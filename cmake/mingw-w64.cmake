# Cross-compiling for Windows x64 with Debian's MinGW-w64 (g++-mingw-w64-x86-64-posix), used by
# scripts/windows-check.sh to build and run the runtime and the addon under Wine. Released
# Windows builds use MSVC (.github/workflows/prebuilds.yml); this is a check from Linux.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# Debian 12's MinGW headers predate Windows 8's thread power throttling, which ggml asks for
# from 0x0602 on; and GCC's AMX tile intrinsics take the stride as `long`, 32 bits on Windows,
# which its assembler rejects as an index register (explicit -mno-* win over -march=native)
set(CMAKE_C_FLAGS_INIT "-D_WIN32_WINNT=0x0601 -mno-amx-tile -mno-amx-int8 -mno-amx-bf16")
set(CMAKE_CXX_FLAGS_INIT "-D_WIN32_WINNT=0x0601 -mno-amx-tile -mno-amx-int8 -mno-amx-bf16")
# GCC's runtime DLLs (libstdc++, libgomp, winpthread) are found through WINEPATH; a static
# libgcc would be exported by each of ggml's DLLs and clash when they link each other
