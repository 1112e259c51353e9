/* The library loader_lock_probe dlopens: its constructor (run under the loader's lock) waits
 * for a segment another thread opens. */
void loader_lock_probe_ctor(void);

__attribute__((constructor)) static void loader_lock_ctor(void)
{
  loader_lock_probe_ctor();
}
