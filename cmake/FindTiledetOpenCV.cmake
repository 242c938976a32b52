# OpenCV's core, imgproc and imgcodecs without OpenCV's CMake package files.
#
# Why not find_package(OpenCV): on Debian 12 OpenCVConfig.cmake and opencv4.pc ship only in
# libopencv-dev, which pulls in every OpenCV module (dnn, videoio, highgui, ...) and their
# dependencies. The three modules tiledet uses come with libopencv-{core,imgproc,imgcodecs}-dev.
# Figures measured in a fresh debootstrap minbase bookworm root: see scripts/setup.sh.
#
# A user with their own OpenCV build passes -DOpenCV_DIR=/path/with/OpenCVConfig.cmake: that
# package is then used as it is.
#
# Defines the imported targets opencv_core, opencv_imgproc and opencv_imgcodecs (the names
# OpenCV's own package defines, so the modules link them the same way either way).
if(OpenCV_DIR)
  find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs CONFIG)
  return()
endif()

find_path(TILEDET_OPENCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4)
set(_tiledet_cv_missing "")
if(NOT TILEDET_OPENCV_INCLUDE_DIR)
  list(APPEND _tiledet_cv_missing "opencv2/core.hpp (Debian: libopencv-core-dev)")
endif()
foreach(_m core imgproc imgcodecs)
  find_library(TILEDET_OPENCV_${_m}_LIBRARY opencv_${_m})
  if(NOT TILEDET_OPENCV_${_m}_LIBRARY)
    list(APPEND _tiledet_cv_missing "libopencv_${_m}.so (Debian: libopencv-${_m}-dev)")
  endif()
endforeach()
if(_tiledet_cv_missing)
  list(JOIN _tiledet_cv_missing "; " _tiledet_cv_msg)
  message(FATAL_ERROR "OpenCV not found: missing ${_tiledet_cv_msg}. Run scripts/setup.sh, "
                      "or pass -DOpenCV_DIR=/path/to/folder/with/OpenCVConfig.cmake.")
endif()

set(OpenCV_INCLUDE_DIRS "${TILEDET_OPENCV_INCLUDE_DIR}")
foreach(_m core imgproc imgcodecs)
  if(NOT TARGET opencv_${_m})
    add_library(opencv_${_m} SHARED IMPORTED)
    set_target_properties(opencv_${_m} PROPERTIES
      IMPORTED_LOCATION "${TILEDET_OPENCV_${_m}_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${TILEDET_OPENCV_INCLUDE_DIR}")
  endif()
endforeach()
set_property(TARGET opencv_imgproc PROPERTY INTERFACE_LINK_LIBRARIES opencv_core)
set_property(TARGET opencv_imgcodecs PROPERTY INTERFACE_LINK_LIBRARIES opencv_imgproc opencv_core)
message(STATUS "OpenCV: ${TILEDET_OPENCV_INCLUDE_DIR}, ${TILEDET_OPENCV_core_LIBRARY} (+ imgproc, imgcodecs)")
