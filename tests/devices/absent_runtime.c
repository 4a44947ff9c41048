/* Stands in for a GPU runtime that is not installed: gpu_module_fixture.cc (the "missing" variant)
 * links it, and the test keeps it off every search path, so dlopen of the fixture fails the way
 * libmixccl-cuda.so does on a machine without libcudart. */
int mixcclTestAbsentRuntimeProbe(void) { return 42; }
