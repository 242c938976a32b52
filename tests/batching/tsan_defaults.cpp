// ThreadSanitizer suppressions built into the tests that run ONNX Runtime, so they run clean
// with or without .ci/tsan.supp. ONNX Runtime is not built with TSan: at exit, one of its global
// mutexes is unlocked from an exit handler after being locked where TSan could not see it, and
// TSan reports "unlock of an unlocked mutex" inside __run_exit_handlers. The race lines repeat
// .ci/tsan.supp. Races and mutex misuse in our own code are still reported.
extern "C" const char* __tsan_default_suppressions();
extern "C" const char* __tsan_default_suppressions() {
    return "mutex:__run_exit_handlers\n"
           "race:libonnxruntime.so\n"
           "called_from_lib:libonnxruntime.so\n";
}
