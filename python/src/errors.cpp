#include "errors.hpp"

#include <new>
#include <string>

#include "tiledet/batching/errors.hpp"
#include "tiledet/error.hpp"
#include "tiledet/pipeline/options.hpp"

namespace py = pybind11;

namespace tiledet::python {
namespace {

// Classes live as long as the module (never freed: the interpreter owns them through the module).
struct Classes {
    py::handle Error, InputError, ModelError, ShapeError, UnknownLayoutError, ConfigError, OptionError, RuntimeFailure,
        DeadlineExpired, Cancelled, QueueFull, ShutDown;
};
Classes classes;

py::handle make_class(py::module_& m, const char* name, std::initializer_list<py::handle> bases, const char* doc) {
    py::tuple b(bases.size());
    std::size_t i = 0;
    for (py::handle h : bases) b[i++] = py::reinterpret_borrow<py::object>(h);
    const std::string qualified = std::string("tiledet.") + name;
    PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, b.ptr(), nullptr);
    if (!cls) throw py::error_already_set();
    m.attr(name) = py::reinterpret_borrow<py::object>(cls);
    return cls;  // the module keeps a reference; this one is the class's lifetime reference
}

py::object instance(py::handle cls, const std::string& message) {
    return cls(message);
}

}  // namespace

py::object python_exception(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const OptionError& e) {
        // The option's Python keyword (the library's table name), not the C++ field path.
        const std::string option = option_for_field(e.option());
        py::object exc = instance(classes.OptionError, e.with_name(option));
        exc.attr("option") = option;
        return exc;
    } catch (const ConfigError& e) {
        return instance(classes.ConfigError, e.what());
    } catch (const InputError& e) {
        return instance(classes.InputError, e.what());
    } catch (const ShapeError& e) {
        return instance(classes.ShapeError, e.what());
    } catch (const UnknownLayoutError& e) {
        return instance(classes.UnknownLayoutError, e.what());
    } catch (const RuntimeFailure& e) {
        return instance(classes.RuntimeFailure, e.what());
    } catch (const DeadlineExpired& e) {
        return instance(classes.DeadlineExpired, e.what());
    } catch (const Cancelled& e) {
        return instance(classes.Cancelled, e.what());
    } catch (const QueueFull& e) {
        return instance(classes.QueueFull, e.what());
    } catch (const ShutDown& e) {
        return instance(classes.ShutDown, e.what());
    } catch (const Error& e) {
        return instance(classes.Error, e.what());
    } catch (py::error_already_set& e) {
        return e.value();
    } catch (const py::builtin_exception& e) {
        // pybind11's own (value_error, type_error): let them set themselves, then fetch.
        e.set_error();
        py::error_already_set fetched;
        return fetched.value();
    } catch (const std::bad_alloc&) {
        return py::reinterpret_borrow<py::object>(PyExc_MemoryError)("out of memory (std::bad_alloc)");
    } catch (const std::exception& e) {
        return py::reinterpret_borrow<py::object>(PyExc_RuntimeError)(e.what());
    }
}

void raise(std::exception_ptr error) {
    py::object exc = python_exception(error);
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    throw py::error_already_set();
}

void register_errors(py::module_& m) {
    Classes& c = classes;
    c.Error = make_class(m, "Error", {PyExc_RuntimeError}, "Base of every tiledet error; str() is one line.");
    c.InputError = make_class(m, "InputError", {c.Error},
                              "A file that is missing, unreadable or not what it claims to be (model or image).");
    c.ModelError = make_class(m, "ModelError", {c.Error}, "A model tiledet cannot use as it is.");
    c.ShapeError = make_class(m, "ShapeError", {c.ModelError}, "Tensors whose shape or type the model cannot take.");
    c.UnknownLayoutError = make_class(m, "UnknownLayoutError", {c.ModelError},
                                      "A model whose inputs and outputs match no layout tiledet knows (or several: "
                                      "pass family=...).");
    c.ConfigError = make_class(m, "ConfigError", {c.Error, PyExc_ValueError},
                               "A bad option, or an execution provider this ONNX Runtime build lacks.");
    c.OptionError = make_class(m, "OptionError", {c.ConfigError},
                               "A bad option value, or an input beyond a limit that an option sets; .option is the "
                               "keyword's name (\"overlap\", \"max_tiles\").");
    c.RuntimeFailure = make_class(m, "RuntimeFailure", {c.Error}, "ONNX Runtime failed while running a batch.");
    c.DeadlineExpired = make_class(m, "DeadlineExpired", {c.Error, PyExc_TimeoutError},
                                   "The image's deadline passed before its tiles ran.");
    c.Cancelled = make_class(m, "Cancelled", {c.Error}, "The image was cancelled before its tiles ran.");
    c.QueueFull = make_class(m, "QueueFull", {c.Error}, "The batch queue was full (queue=...).");
    c.ShutDown = make_class(m, "ShutDown", {c.Error}, "The pipeline was closed.");

    py::register_exception_translator([](std::exception_ptr p) {
        if (!p) return;
        try {
            std::rethrow_exception(p);
        } catch (const tiledet::Error&) {
            py::object exc = python_exception(p);
            PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
        }
    });
}

}  // namespace tiledet::python
