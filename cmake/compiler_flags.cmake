# cmake/compiler_flags.cmake — the project's GCC-style compile flags, spelled for the
# compiler in use. GCC and Clang take them as they are. On Windows the wheels are built
# with clang-cl (pyproject.toml says why), whose MSVC-style command line reads -O3 as
# the unknown /O3 and -Wall as -Weverything: there, -O<n> becomes /O2, -Wall -Wextra
# become /W4, and every other flag (-mavx2, -ffp-contract=off, ...) goes to the Clang
# driver unchanged through /clang:. MSVC's own cl.exe cannot build the engine (GCC
# vector extensions, __builtin_*, inline asm) and is refused at configure time.

if(CMAKE_CXX_COMPILER_ID STREQUAL "MSVC")
  message(FATAL_ERROR "llm4all needs GCC or Clang; on Windows use clang-cl "
                      "(Visual Studio generator with -T ClangCL, or Ninja with CC=clang-cl CXX=clang-cl)")
endif()

if(CMAKE_CXX_COMPILER_FRONTEND_VARIANT STREQUAL "MSVC")
  set(LLM4ALL_CLANG_CL ON)
else()
  set(LLM4ALL_CLANG_CL OFF)
endif()

# llm4all_flags(<out-var> <flag>...): the flags as this compiler spells them.
function(llm4all_flags out)
  set(result "")
  foreach(f IN LISTS ARGN)
    if(NOT LLM4ALL_CLANG_CL)
      list(APPEND result ${f})
    elseif(f MATCHES "^-O[0-9s]$")
      list(APPEND result /O2)
    elseif(f STREQUAL "-Wall")
      list(APPEND result /W4)
    elseif(f STREQUAL "-Wextra")
      # part of /W4
    else()
      list(APPEND result /clang:${f})
    endif()
  endforeach()
  set(${out} "${result}" PARENT_SCOPE)
endfunction()

# The platform layer (core/src/platform/platform.h): one implementation per system,
# compiled into the core, each CPU plugin, the Python module and the tests that build
# engine sources themselves.
if(WIN32)
  set(LLM4ALL_PLATFORM_SOURCES ${PROJECT_SOURCE_DIR}/core/src/platform/windows.cpp)
else()
  set(LLM4ALL_PLATFORM_SOURCES ${PROJECT_SOURCE_DIR}/core/src/platform/posix.cpp)
endif()

# Plugin file names, which the core's loader matches (registry.cpp): CMake's own prefix
# and suffix for a loadable module on Windows (llm4all-cpu-avx2.dll with clang-cl,
# libllm4all-cpu-avx2.dll with MinGW), libllm4all-*.so elsewhere (macOS included).
if(WIN32)
  set(LLM4ALL_PLUGIN_PREFIX "${CMAKE_SHARED_MODULE_PREFIX}")
  set(LLM4ALL_PLUGIN_SUFFIX "${CMAKE_SHARED_MODULE_SUFFIX}")
else()
  set(LLM4ALL_PLUGIN_PREFIX "lib")
  set(LLM4ALL_PLUGIN_SUFFIX ".so")
endif()
add_compile_definitions(LLM4ALL_PLUGIN_PREFIX="${LLM4ALL_PLUGIN_PREFIX}"
                        LLM4ALL_PLUGIN_SUFFIX="${LLM4ALL_PLUGIN_SUFFIX}")
