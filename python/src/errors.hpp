// tiledet's C++ exceptions as Python exceptions (tiledet.InputError, ...), with the same one-line
// messages; an OptionError names the option by its Python keyword ("overlap").
#pragma once

#include <pybind11/pybind11.h>

#include <exception>

namespace tiledet::python {

// Creates the exception classes in `m` and registers the translator.
void register_errors(pybind11::module_& m);

// The Python exception instance for a C++ exception (the GIL must be held).
pybind11::object python_exception(std::exception_ptr error);

// Raises `python_exception(error)` in Python: sets the error indicator and throws
// error_already_set, for code that has a std::exception_ptr in hand.
[[noreturn]] void raise(std::exception_ptr error);

}  // namespace tiledet::python
