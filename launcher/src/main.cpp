// The kiln executable. Errors become exit codes here and only here.
#include "kiln/launcher/cli.h"

int main(int argc, char** argv) { return kiln::launcher::run_cli(argc, argv); }
