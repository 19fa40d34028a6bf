/*
 * libpapers_torch_guard.so: closes a use-after-free race in TorchSharp 0.107's finalizers.
 *
 * TorchSharp's operators create temporary Scalars (a + b passes alpha = 1 as a new Scalar; x * 2.0 wraps 2.0) and
 * temporary Tensors, read their native handle and call into libtorch without keeping the managed object alive
 * (no GC.KeepAlive). When another thread allocates and triggers a garbage collection during that native call, the
 * finalizer thread frees the native object while libtorch is still reading it: "Expected false to be true" from
 * c10::Scalar::toFloat, or a segmentation fault. A loop of a + b beside one allocating thread fails in under a second.
 *
 * The workbench points TorchSharp's P/Invokes at this library (NativeLibrary.SetDllImportResolver). It depends on
 * libLibTorchSharp.so, so every other symbol resolves to the real library, and it replaces two functions:
 *   THSTorch_dispose_scalar: the Scalar is freed only after DELAY seconds (implicit Scalars are only ever finalized);
 *   THSTensor_dispose: a Tensor freed by the .NET finalizer thread waits DELAY seconds; an explicit Dispose (dispose
 *   scopes, using) frees at once, so GPU memory is returned as before.
 * A native call that started before the finalizer ran has long finished DELAY (default 2 s) later.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*dispose_fn)(void*);
typedef struct { void* p; dispose_fn f; double t; } entry;

static dispose_fn real_scalar, real_tensor;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static entry* ring;
static size_t cap, head, count;
static double delay_s = 2.0;
static unsigned long long deferred_total, freed_total;
static __thread int thread_kind;   /* 0 not yet known, 1 the .NET finalizer thread, 2 any other */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int on_finalizer_thread(void)
{
    if (!thread_kind) {
        char name[32] = {0};
        pthread_getname_np(pthread_self(), name, sizeof name);
        thread_kind = strcmp(name, ".NET Finalizer") == 0 ? 1 : 2;
    }
    return thread_kind == 1;
}

/* The real functions, from the libLibTorchSharp.so this library depends on (already loaded). With the lock held. */
static void resolve(void)
{
    if (real_scalar && real_tensor) return;
    void* h = dlopen("libLibTorchSharp.so", RTLD_LAZY | RTLD_NOLOAD);
    if (!h) return;
    real_scalar = (dispose_fn)dlsym(h, "THSTorch_dispose_scalar");
    real_tensor = (dispose_fn)dlsym(h, "THSTensor_dispose");
    dlclose(h);
}

/* Frees every deferred object older than the delay. With the lock held. */
static void drain(double t)
{
    while (count > 0 && t - ring[head].t >= delay_s) {
        ring[head].f(ring[head].p);
        head = (head + 1) % cap;
        count--;
        freed_total++;
    }
}

static int push(void* p, dispose_fn f, double t)
{
    if (count == cap) {
        size_t nc = cap ? cap * 2 : 4096;
        entry* nr = (entry*)malloc(nc * sizeof(entry));
        if (!nr) return 0;
        for (size_t i = 0; i < count; i++) nr[i] = ring[(head + i) % cap];
        free(ring);
        ring = nr; cap = nc; head = 0;
    }
    ring[(head + count) % cap] = (entry){ p, f, t };
    count++;
    deferred_total++;
    return 1;
}

static void release(void* p, int is_scalar)
{
    if (!p) return;
    pthread_mutex_lock(&mu);
    resolve();
    dispose_fn f = is_scalar ? real_scalar : real_tensor;
    if (f) {
        double t = now();
        /* Out of memory for the queue: leaking one object is safer than freeing it early. */
        if (is_scalar || on_finalizer_thread()) push(p, f, t);
        else f(p);
        drain(t);
    }
    pthread_mutex_unlock(&mu);
}

void THSTorch_dispose_scalar(void* scalar) { release(scalar, 1); }
void THSTensor_dispose(void* tensor) { release(tensor, 0); }

/* Sets the delay (seconds; negative keeps it) and returns 1 when both real functions were found. */
int papers_guard_init(double delay_seconds)
{
    pthread_mutex_lock(&mu);
    if (delay_seconds >= 0) delay_s = delay_seconds;
    resolve();
    int ok = real_scalar != NULL && real_tensor != NULL;
    pthread_mutex_unlock(&mu);
    return ok;
}

/* out[0] objects deferred so far, out[1] freed after their delay, out[2] waiting now. */
void papers_guard_stats(unsigned long long* out)
{
    pthread_mutex_lock(&mu);
    out[0] = deferred_total;
    out[1] = freed_total;
    out[2] = count;
    pthread_mutex_unlock(&mu);
}
