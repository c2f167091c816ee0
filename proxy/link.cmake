# How strait-proxy is linked, for its resident memory (docs/proxy.md, "Memory").
#
# ST_PROXY_STATIC (AUTO, FULL, ON or OFF):
#   ON    link OpenSSL, nghttp2 and jansson into the binary from their static
#         archives, without PIE, keeping only the object files and (for our
#         own code) the functions that are used; glibc stays dynamic.
#   FULL  as ON, and glibc too (-static): no ld.so, no libc.so, only the libc
#         objects that are used. The binary needs no shared library at all.
#         Name lookups (getaddrinfo, only for a --controller given as a host
#         name) then load glibc's NSS modules at run time, which works only
#         where the glibc the binary was built with is installed (the build
#         and run images of the Dockerfile share Debian 12's).
#   OFF   the shared libraries and PIE, like every other binary.
# AUTO means FULL for Release, RelWithDebInfo and MinSizeRel builds and OFF
# otherwise; sanitizer and fuzz builds are always dynamic. When an archive is
# missing the proxy falls back to ON (no libc.a) or to the shared libraries,
# with a message.
#
# When lld is available the text is also laid out in the order of
# proxy/hot-symbols.txt (functions the proxy runs at start, in a handshake,
# per request and per scrape; see proxy/hot_symbols.py), so that the code it
# runs sits on few pages instead of being spread over the whole of libcrypto.
# Symbols missing from the list cost memory, never correctness.

set(ST_PROXY_STATIC AUTO CACHE STRING
    "Link strait-proxy statically: AUTO, FULL (glibc too), ON (OpenSSL, nghttp2, jansson), OFF")
set_property(CACHE ST_PROXY_STATIC PROPERTY STRINGS AUTO FULL ON OFF)

set(proxy_static ${ST_PROXY_STATIC})
set(proxy_full OFF)
if(proxy_static STREQUAL "AUTO")
    if(CMAKE_BUILD_TYPE MATCHES "^(Release|RelWithDebInfo|MinSizeRel)$")
        set(proxy_static FULL)
    else()
        set(proxy_static OFF)
    endif()
endif()
if(proxy_static STREQUAL "FULL")
    set(proxy_static ON)
    set(proxy_full ON)
endif()
if(proxy_static AND (ST_SANITIZE OR ST_FUZZ))
    message(STATUS "strait-proxy: dynamic link (sanitizer or fuzz build)")
    set(proxy_static OFF)
endif()

if(proxy_static)
    set(proxy_archives)
    foreach(lib ssl crypto nghttp2 jansson)
        find_library(ST_LIB${lib}_A NAMES lib${lib}.a)
        if(NOT ST_LIB${lib}_A)
            message(STATUS "strait-proxy: lib${lib}.a not found, dynamic link")
            set(proxy_static OFF)
            break()
        endif()
        list(APPEND proxy_archives ${ST_LIB${lib}_A})
    endforeach()
endif()
if(proxy_static AND proxy_full)
    find_library(ST_LIBc_A NAMES libc.a)
    if(NOT ST_LIBc_A)
        message(STATUS "strait-proxy: libc.a not found, glibc stays dynamic")
        set(proxy_full OFF)
    endif()
endif()

if(proxy_static)
    # Every library of ours that calls into the archives comes before them on
    # the link line, so that the archives resolve all their symbols; the
    # shared libraries that the targets name transitively are then unused
    # and --as-needed leaves them out (proxy/check_link.py checks).
    target_link_libraries(strait-proxy PRIVATE st_dest st_json st_metrics ${proxy_archives})
    target_compile_options(strait-proxy PRIVATE -ffunction-sections -fdata-sections)
    target_compile_options(st_proxy_route PRIVATE -ffunction-sections -fdata-sections)
    # --exclude-libs: nothing from the archives goes into the dynamic symbol table
    # (lld would export every symbol the shared libraries also define).
    target_link_options(strait-proxy PRIVATE -Wl,--gc-sections -Wl,--as-needed
                        -Wl,--exclude-libs,ALL)
    set(proxy_kind "static OpenSSL/nghttp2/jansson")
    if(NOT proxy_full)
        target_link_options(strait-proxy PRIVATE -no-pie) # -static below is not PIE either
    endif()
    if(proxy_full)
        # The targets we link name the shared libraries (OpenSSL::SSL,
        # PkgConfig::JANSSON, ...) and a static link refuses any .so on its
        # command line. Every symbol the proxy uses from them comes from the
        # archives above, so the link runs through a launcher that leaves the
        # .so arguments out.
        set(proxy_launcher ${CMAKE_CURRENT_BINARY_DIR}/strait-proxy-link.sh)
        file(WRITE ${proxy_launcher} [=[#!/bin/sh
# Made by proxy/link.cmake (ST_PROXY_STATIC=FULL): runs the link command it is
# given without its shared-library arguments, which a static link refuses.
for arg do
    shift
    case $arg in
    *.so | *.so.[0-9]*) ;;
    *) set -- "$@" "$arg" ;;
    esac
done
exec "$@"
]=])
        set_property(TARGET strait-proxy PROPERTY RULE_LAUNCH_LINK "/bin/sh ${proxy_launcher}")
        target_link_options(strait-proxy PRIVATE -static)
        set(proxy_kind "fully static (glibc too)")
    endif()

    include(CheckLinkerFlag)
    set(proxy_order ${CMAKE_CURRENT_SOURCE_DIR}/hot-symbols.txt)
    check_linker_flag(C "-fuse-ld=lld" ST_HAVE_LLD)
    if(ST_HAVE_LLD AND EXISTS ${proxy_order})
        target_link_options(strait-proxy PRIVATE -fuse-ld=lld
                            -Wl,--symbol-ordering-file=${proxy_order}
                            -Wl,--no-warn-symbol-ordering)
        set_property(TARGET strait-proxy APPEND PROPERTY LINK_DEPENDS ${proxy_order})
        message(STATUS "strait-proxy: ${proxy_kind}, no PIE, lld with hot-symbols.txt")
    else()
        message(STATUS "strait-proxy: ${proxy_kind}, no PIE (no lld: default layout)")
    endif()
    if(proxy_full)
        set(proxy_check --full)
    else()
        set(proxy_check)
    endif()
    add_test(NAME proxy.static_link
             COMMAND ${ST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/check_link.py ${proxy_check}
                     $<TARGET_FILE:strait-proxy>)
    set_tests_properties(proxy.static_link PROPERTIES LABELS unit TIMEOUT 60)
else()
    message(STATUS "strait-proxy: dynamic link")
endif()
