#include <string>

#include "kiln/data/dataset.h"

namespace kiln::data {

std::string ImageShape::str() const {
  return std::to_string(channels) + "," + std::to_string(height) + "," + std::to_string(width);
}

}  // namespace kiln::data
