// One-line descriptions of how a model would be read, for `tiledet inspect` and tiledet.inspect().
#pragma once

#include <string>

#include "tiledet/runtime/signature.hpp"

namespace tiledet {

// How the matched family feeds the image input ("3 channels RGB, NCHW float32, byte/255,
// letterbox centred, pad 114"); "-" when no family matches; "refused: <first line>" when the
// family matches but its detector refuses the input.
std::string describe_pixels(const ModelSignature& sig);

// The matched family's reference decode defaults: "conf 0.25, NMS IoU 0.7" ("conf 0.5, NMS in the
// model" when the family runs none); "-" when no family matches or its detector refuses.
std::string describe_defaults(const ModelSignature& sig);

}  // namespace tiledet
