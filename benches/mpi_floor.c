/* The start-up floor of an MPI job: MPI_Init, one barrier, MPI_Finalize, nothing else.
 * benches/startup.sh builds it with mpicc and times it under mpirun against spmdkit. */
#include <mpi.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Finalize();
    return 0;
}
