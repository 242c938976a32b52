# The library's front door for C++ users:
#
#   cmake --install build --prefix P
#   # in the user's project:  find_package(tiledet 0.1 REQUIRED)  (CMAKE_PREFIX_PATH=P)
#   #                         target_link_libraries(app PRIVATE tiledet::tiledet)
#
# installs libtiledet.so (every library module but the CLI's bench tooling (src/bench, headers there too), linked whole), the
# public headers (none of which includes an ONNX Runtime header), the ONNX Runtime library it was
# built against (so the installed tree does not depend on this checkout), and a CMake package:
# tiledetConfig.cmake, its version file and the exported target tiledet::tiledet.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_tiledet_parts "")
foreach(lib tiledet_runtime tiledet_io tiledet_tiling tiledet_detectors tiledet_eval tiledet_batching
            tiledet_onnx tiledet_pipeline)
  if(TARGET ${lib})
    list(APPEND _tiledet_parts ${lib})
  endif()
endforeach()

set(_tiledet_objects "")
foreach(lib IN LISTS _tiledet_parts)
  list(APPEND _tiledet_objects "$<TARGET_OBJECTS:${lib}>")
endforeach()
add_library(tiledet_shared SHARED ${_tiledet_objects})
add_library(tiledet::tiledet ALIAS tiledet_shared)
set_target_properties(tiledet_shared PROPERTIES
  OUTPUT_NAME tiledet EXPORT_NAME tiledet
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
# Every object of the module archives goes into the shared library (their objects above), not
# only those something happens to reference (the detector registry registers families from static
# initializers). Linking the archives too brings their own dependencies (ORT, OpenCV, ONNX);
# nothing more is taken from them, as every symbol they define is already there.
target_link_libraries(tiledet_shared PRIVATE ${_tiledet_parts})
# What users of the installed headers need: OpenCV core (cv::Mat in the API), found again by
# tiledetConfig.cmake. No public header includes nlohmann_json.
target_link_libraries(tiledet_shared PUBLIC opencv_core Threads::Threads)
target_compile_features(tiledet_shared INTERFACE cxx_std_20)
target_include_directories(tiledet_shared INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
foreach(lib IN LISTS _tiledet_parts)
  string(REPLACE "tiledet_" "" _m ${lib})
  string(TOUPPER ${_m} _m)
  target_compile_definitions(tiledet_shared INTERFACE TILEDET_HAS_${_m}=1)
endforeach()
set_target_properties(tiledet_shared PROPERTIES INSTALL_RPATH "$ORIGIN")

install(TARGETS tiledet_shared EXPORT tiledetTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/tiledet" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp")
# The ONNX Runtime shared objects this build links (libonnxruntime.so and its SONAME link, the
# providers' shared helper), beside libtiledet.so, found through its $ORIGIN run path.
file(GLOB _tiledet_ort_libs "${ONNXRUNTIME_LIB_DIR}/libonnxruntime*.so*")
install(FILES ${_tiledet_ort_libs} DESTINATION ${CMAKE_INSTALL_LIBDIR})

set(_cfg_dir ${CMAKE_INSTALL_LIBDIR}/cmake/tiledet)
install(EXPORT tiledetTargets NAMESPACE tiledet:: DESTINATION ${_cfg_dir})
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/tiledetConfig.cmake.in"
  "${CMAKE_BINARY_DIR}/tiledetConfig.cmake" INSTALL_DESTINATION ${_cfg_dir})
write_basic_package_version_file("${CMAKE_BINARY_DIR}/tiledetConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_BINARY_DIR}/tiledetConfig.cmake" "${CMAKE_BINARY_DIR}/tiledetConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/FindTiledetOpenCV.cmake" DESTINATION ${_cfg_dir})
