// ThreadSanitizer suppressions built into the executor's tests, so they run clean with or
// without .ci/tsan.supp. Both are about code built without TSan, whose synchronisation TSan
// cannot see; races and mutex misuse in our own code are still reported.
//  - libstdc++.so's exception_ptr reference count: an error delivered through a future may be
//    destroyed by the worker that drops the last reference (when it destroys its promise) after
//    the caller read it; the atomic count orders the two, but it lives in the uninstrumented
//    library, so TSan reports a race on the exception's vptr.
//  - OpenCV and the TBB thread pool it runs parallel loops on (not built with TSan): a buffer
//    that OpenCV allocates in a TBB worker and frees on the calling thread is reported, since
//    TBB's own synchronisation is invisible to TSan.
//  - ONNX Runtime (not built with TSan): at exit one of its global mutexes is unlocked from an
//    exit handler after being locked where TSan could not see it. The race lines repeat
//    .ci/tsan.supp.
extern "C" const char* __tsan_default_suppressions();
extern "C" const char* __tsan_default_suppressions() {
    return "race:std::__exception_ptr::exception_ptr::_M_release\n"
           "mutex:__run_exit_handlers\n"
           "race:libonnxruntime.so\n"
           "called_from_lib:libonnxruntime.so\n"
           "race:libopencv_core.so\n"
           "race:libopencv_imgproc.so\n"
           "race:libtbb.so\n"
           "called_from_lib:libtbb.so\n";
}
