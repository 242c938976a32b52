// How a request that produced no outputs ended. Each is delivered through the request's future;
// RuntimeFailure (tiledet/error.hpp) carries the model's own error text.
#pragma once

#include "tiledet/error.hpp"

namespace tiledet {

// The request's deadline passed while it waited in the queue; it never ran.
class DeadlineExpired : public Error {
public:
    using Error::Error;
};

// The request was cancelled (cancel(tag) or shutdown(cancel_pending=true)) before it ran.
class Cancelled : public Error {
public:
    using Error::Error;
};

// The queue was at capacity and the policy says reject.
class QueueFull : public Error {
public:
    using Error::Error;
};

// The executor was shutting down or shut down when the request was submitted.
class ShutDown : public Error {
public:
    using Error::Error;
};

}  // namespace tiledet
