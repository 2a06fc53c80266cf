#include "cli_commands.h"

namespace kiln::launcher::cli {

CommandTable kiln_commands() {
  CommandTable table;
  add_info_commands(table);
  add_classification_commands(table);
  add_detectnet_v2_commands(table);
  add_cluster_commands(table);
  add_dataset_commands(table);
  add_spec_commands(table);
  return table;
}

}  // namespace kiln::launcher::cli
