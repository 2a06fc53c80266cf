// Boxes and KITTI label files (docs/detection.md). KITTI's label format: one object per line, 15 space-separated
// fields `type truncated occluded alpha x1 y1 x2 y2 h w l x y z rotation_y` (box corners in pixels); inference output
// appends a 16th field, the confidence. kiln, like TAO's converter, lower-cases class names.
#pragma once
#include <string>
#include <vector>

namespace kiln::detection {

// An axis-aligned box in pixels: (x1, y1) top-left, (x2, y2) bottom-right, x2 > x1 and y2 > y1 when valid.
struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  float width() const { return x2 - x1; }
  float height() const { return y2 - y1; }
  float area() const { return width() > 0 && height() > 0 ? width() * height() : 0.f; }
};

// Intersection over union; 0 when either box is empty.
float iou(const Box& a, const Box& b);

struct KittiObject {
  std::string type;  // class name, lower-cased
  float truncated = 0, occluded = 0, alpha = 0;
  Box box;
  float h = 0, w = 0, l = 0, x = 0, y = 0, z = 0, rotation_y = 0;  // 3D fields, carried through unchanged
  float score = -1;  // field 16 (inference output); -1 when the line has 15 fields
};

// Parses the text of one label file. `file` names it in errors: every malformed line is a DataError
// "<file>:<line>: <what>" (wrong field count, a field that is not a number, x1 >= x2 or y1 >= y2, a negative
// coordinate). Blank lines are skipped. When image_width/height are > 0, a box outside [0, W] x [0, H] is an error too.
std::vector<KittiObject> parse_kitti_labels(const std::string& text, const std::string& file, int image_width = 0,
                                            int image_height = 0);

// Reads and parses a label file (DataError naming it when it cannot be read).
std::vector<KittiObject> read_kitti_labels(const std::string& path, int image_width = 0, int image_height = 0);

// One label line (no newline): 15 fields, or 16 with the score when `with_score`. Numbers are printed with enough
// digits to read back the same float for the box, two decimals for the rest (as KITTI's own files).
std::string format_kitti_object(const KittiObject& object, bool with_score = false);

}  // namespace kiln::detection
