// Linked into every C++ test program: tests see fixed settings (instances 1, max batch 8, the
// thread defaults) unless they set them, so what they assert does not depend on what the auto
// configuration would measure on a loaded machine. The auto configuration has its own tests
// (tests/pipeline/test_auto_config.cpp), which turn it back on. Does not override a value that is
// already set in the environment.
#include <cstdlib>

namespace {
const int kAutoConfigOff = ::setenv("TILEDET_AUTO_CONFIG", "off", /*overwrite=*/0);
}  // namespace
