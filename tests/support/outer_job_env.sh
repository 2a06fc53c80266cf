# Sourced by the shell tests that launch jobs (tests/slurm, tests/multinode, tests/torchrun): removes the variables
# an outer job may have set (ctest run inside a Slurm allocation, under mpirun or torchrun), which would make the
# launchers and kiln under test think they are ranks of that job. SLURM_CONF (the test's own cluster) and Open MPI's
# permission to run as root stay.
for v in $(compgen -e); do
  case $v in
    SLURM_CONF | OMPI_ALLOW_RUN_AS_ROOT*) ;;
    SLURM_* | PMIX_* | PMI_* | OMPI_* | OPAL_* | KILN_* | TORCHELASTIC_* | GLOO_* | RANK | WORLD_SIZE | LOCAL_RANK | \
      LOCAL_WORLD_SIZE | GROUP_RANK | GROUP_WORLD_SIZE | ROLE_* | MASTER_ADDR | MASTER_PORT) unset "$v" ;;
  esac
done
unset v
