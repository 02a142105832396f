# cmake/mingw-w64.cmake — cross-compiles the Windows x64 build on Linux with MinGW-w64
# (Debian: g++-mingw-w64-x86-64-posix), for tools/windows_check.sh to run under Wine.
# The wheels themselves are built on Windows with clang-cl (pyproject.toml); this checks
# the Windows code paths (platform/windows.cpp, DLL names and exports) where no Windows
# machine is at hand.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# The GCC runtime (libstdc++, libgcc, winpthread) linked in, so every DLL and program
# runs without MinGW's own DLLs on Wine's path.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "-static")
