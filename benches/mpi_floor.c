/* The start-up floor of an MPI job: MPI_Init, one barrier, MPI_Finalize, nothing else.
 * benches/startup.sh builds it with mpicc and times it under mpirun against spmdkit.
 * With FLOOR_TIMES set, rank 0 prints how long MPI_Init and MPI_Finalize took (ms). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    double t0 = now_ms();
    MPI_Init(&argc, &argv);
    double t1 = now_ms();
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Barrier(MPI_COMM_WORLD);
    double t2 = now_ms();
    MPI_Finalize();
    double t3 = now_ms();
    if (rank == 0 && getenv("FLOOR_TIMES")) {
        fprintf(stderr, "MPI_Init %.1f ms, barrier %.1f ms, MPI_Finalize %.1f ms\n",
                t1 - t0, t2 - t1, t3 - t2);
    }
    return 0;
}
