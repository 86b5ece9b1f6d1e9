# Cross build for arm-linux-gnueabihf with Debian's cross toolchain (crossbuild-essential-*)
# and the multiarch -dev packages (libmosquitto-dev:ARCH ...): see
# tests/cross/run.sh, which installs them.
#
#   cmake -S . -B build-cross-ARCH -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-arm-linux-gnueabihf.cmake
#
# The target's libraries live in the host's root under /usr/lib/arm-linux-gnueabihf
# (multiarch), not in a separate sysroot, so the find-root is / with the
# search for libraries and headers restricted to the target's paths; programs
# (cmake's helpers) come from the host.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(SH_CROSS_TRIPLET arm-linux-gnueabihf)

set(CMAKE_C_COMPILER ${SH_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${SH_CROSS_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${SH_CROSS_TRIPLET})

set(CMAKE_FIND_ROOT_PATH /usr/${SH_CROSS_TRIPLET} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config must see the target's .pc files only: the host's
# /usr/lib/x86_64-linux-gnu/pkgconfig would hand the build amd64 libraries.
# Debian's cross pkg-config wrapper (${SH_CROSS_TRIPLET}-pkg-config) does
# the same; setting the variables works with the plain pkg-config too.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${SH_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# ctest runs the unit tests through qemu-user. The target's dynamic loader
# and libc come from the multiarch libc6:ARCH (pulled in by the -dev
# packages) in the host's root, so no -L prefix is needed; SH_CROSS_EMULATOR
# overrides it (e.g. "qemu-qemu-arm-static;-L;/usr/${SH_CROSS_TRIPLET}").
if(NOT DEFINED SH_CROSS_EMULATOR)
  set(SH_CROSS_EMULATOR qemu-arm)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR ${SH_CROSS_EMULATOR})
