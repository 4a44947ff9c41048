/* The OpenMPI side of the peer comparison: times MPI_Allreduce (float sum, out of place) the way
 * mixccl-perf times mixcclAllReduce: warm-up, barrier, a timed loop, the maximum over ranks of the
 * mean time per call. Prints one line per size: "bytes time_us algbw_gbps busbw_gbps".
 * Usage: mpirun -np N mpi-allreduce-bench MINBYTES MAXBYTES [ITERS] [WARMUP]
 * Sizes double from MINBYTES; ITERS shrinks for large sizes so a sweep stays short. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t parse_bytes(const char* s) {
  char* end = NULL;
  double v = strtod(s, &end);
  if (end != NULL && (*end == 'K' || *end == 'k')) v *= 1024;
  if (end != NULL && (*end == 'M' || *end == 'm')) v *= 1024 * 1024;
  if (end != NULL && (*end == 'G' || *end == 'g')) v *= 1024.0 * 1024 * 1024;
  return (size_t)v;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, nranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  if (argc < 3) {
    if (rank == 0) fprintf(stderr, "usage: %s MINBYTES MAXBYTES [ITERS] [WARMUP]\n", argv[0]);
    MPI_Finalize();
    return 2;
  }
  size_t minBytes = parse_bytes(argv[1]), maxBytes = parse_bytes(argv[2]);
  int iters = argc > 3 ? atoi(argv[3]) : 100;
  int warmup = argc > 4 ? atoi(argv[4]) : 10;
  if (minBytes < sizeof(float)) minBytes = sizeof(float);
  float* in = malloc(maxBytes);
  float* out = malloc(maxBytes);
  if (in == NULL || out == NULL) {
    fprintf(stderr, "rank %d: cannot allocate %zu bytes\n", rank, maxBytes);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  for (size_t i = 0; i < maxBytes / sizeof(float); ++i) in[i] = (float)(rank + 1);
  for (size_t bytes = minBytes; bytes <= maxBytes; bytes *= 2) {
    int count = (int)(bytes / sizeof(float));
    /* Keep each size to about the same amount of data moved: fewer iterations for large sizes. */
    int n = iters;
    if (bytes >= (1u << 20)) n = iters / 10 > 5 ? iters / 10 : 5;
    if (bytes >= (16u << 20)) n = iters / 50 > 3 ? iters / 50 : 3;
    for (int i = 0; i < warmup; ++i) MPI_Allreduce(in, out, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int i = 0; i < n; ++i) MPI_Allreduce(in, out, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    double us = (MPI_Wtime() - t0) * 1e6 / n, maxUs = 0;
    MPI_Allreduce(&us, &maxUs, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    float expect = (float)nranks * (float)(nranks + 1) / 2;
    int wrong = out[0] != expect || out[count - 1] != expect;
    if (rank == 0) {
      double algbw = (double)bytes / (maxUs * 1e-6) / 1e9;
      double busbw = algbw * 2.0 * (nranks - 1) / nranks;
      printf("%zu %.3f %.4f %.4f%s\n", bytes, maxUs, algbw, busbw, wrong ? " WRONG" : "");
      fflush(stdout);
    }
  }
  free(in);
  free(out);
  MPI_Finalize();
  return 0;
}
