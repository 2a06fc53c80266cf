#include "kiln/launcher/local_launch.h"

#include <gtest/gtest.h>

#include "kiln/launcher/supervisor.h"

using namespace kiln::launcher;

TEST(LocalLaunch, MpirunCommandBindsOneCorePerRankWhenTheyFit) {
  LocalLaunch job{2, {"classification", "train", "-e", "s.yaml", "-r", "out dir"}, "out dir", false};
  EXPECT_EQ(shell_join(local_mpirun_command(job, "/opt/kiln/kiln", 2, true)),
            "mpirun -np 2 --tag-output --allow-run-as-root --bind-to core --map-by core -x OMP_NUM_THREADS=1 "
            "-x OPENBLAS_NUM_THREADS=1 /opt/kiln/kiln classification train -e s.yaml -r 'out dir'");
}

TEST(LocalLaunch, MpirunCommandOversubscribesWithoutBinding) {
  LocalLaunch job{3, {"classification", "train"}, "", false};
  EXPECT_EQ(shell_join(local_mpirun_command(job, "kiln", 2, false)),
            "mpirun -np 3 --tag-output --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 -x OPENBLAS_NUM_THREADS=1 "
            "kiln classification train");
  job.num_processes = 2;
  EXPECT_NE(shell_join(local_mpirun_command(job, "kiln", 16, false)).find("OMP_NUM_THREADS=8"), std::string::npos);
}

TEST(LocalLaunch, StripOptionRemovesBothSpellings) {
  const std::vector<std::string> argv{"train", "--num_processes", "2", "-e", "x", "--num_processes=4", "--dry-run"};
  EXPECT_EQ(strip_option(argv, "--num_processes", true), (std::vector<std::string>{"train", "-e", "x", "--dry-run"}));
  EXPECT_EQ(strip_option(argv, "--dry-run", false),
            (std::vector<std::string>{"train", "--num_processes", "2", "-e", "x", "--num_processes=4"}));
}

TEST(LocalLaunch, ShellJoinQuotes) {
  EXPECT_EQ(shell_join({"a b", "it's", "plain", ""}), "'a b' 'it'\\''s' plain ''");
}

TEST(Supervisor, ParsesMpirunTags) {
  int rank = -1;
  std::string text;
  ASSERT_TRUE(parse_tagged_line("[1,3]<stdout>:Epoch 1/2 loss 0.5", rank, text));
  EXPECT_EQ(rank, 3);
  EXPECT_EQ(text, "Epoch 1/2 loss 0.5");
  ASSERT_TRUE(parse_tagged_line("[12,0]<stderr>:", rank, text));
  EXPECT_EQ(rank, 0);
  EXPECT_EQ(text, "");
  EXPECT_FALSE(parse_tagged_line("plain mpirun message", rank, text));
  EXPECT_FALSE(parse_tagged_line("[warn] something", rank, text));
}
