#include "tiledet/runtime/metadata.hpp"

#include "python_literal.hpp"

#include <cctype>

#include "tiledet/error.hpp"

namespace tiledet {
namespace {

// Recursive-descent parser for the Python literal subset that Ultralytics' metadata uses
// (ultralytics/engine/exporter.py writes str(dict) / str(list) values).
class LiteralParser {
public:
    explicit LiteralParser(const std::string& s) : s_(s) {}

    nlohmann::json parse_all() {
        nlohmann::json v = value();
        skip_ws();
        if (i_ != s_.size()) fail("unexpected text after the value");
        return v;
    }

private:
    const std::string& s_;
    std::size_t i_ = 0;

    [[noreturn]] void fail(const std::string& what) const {
        throw Error("cannot parse Python literal metadata at character " + std::to_string(i_) + ": " + what +
                    " (text: " + s_.substr(0, 80) + (s_.size() > 80 ? "..." : "") + ")");
    }
    void skip_ws() {
        while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    bool eat(char c) {
        skip_ws();
        if (i_ < s_.size() && s_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }
    bool word(const char* w) {
        skip_ws();
        const std::string ws(w);
        if (s_.compare(i_, ws.size(), ws) == 0) {
            const std::size_t end = i_ + ws.size();
            if (end == s_.size() || !(std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_')) {
                i_ = end;
                return true;
            }
        }
        return false;
    }

    // Nesting is bounded so that a hostile '[[[[...' fails here instead of overflowing the stack
    // (20000 levels did under ASan, found with fuzz_python_literal); metadata nests 2 deep.
    static constexpr int kMaxDepth = 64;
    int depth_ = 0;
    struct Nest {
        LiteralParser& p;
        explicit Nest(LiteralParser& parser) : p(parser) {
            if (++p.depth_ > kMaxDepth) p.fail("nested deeper than " + std::to_string(kMaxDepth) + " levels");
        }
        ~Nest() { --p.depth_; }
    };

    nlohmann::json value() {
        skip_ws();
        if (i_ >= s_.size()) fail("unexpected end of text");
        const char c = s_[i_];
        const Nest nest(*this);
        if (c == '{') return dict();
        if (c == '[') return sequence('[', ']');
        if (c == '(') return sequence('(', ')');
        if (c == '\'' || c == '"') return string();
        if (word("True")) return true;
        if (word("False")) return false;
        if (word("None")) return nullptr;
        return number();
    }

    nlohmann::json dict() {
        eat('{');
        nlohmann::json obj = nlohmann::json::object();
        if (eat('}')) return obj;
        while (true) {
            nlohmann::json k = value();
            if (!eat(':')) fail("expected ':' in a dict");
            nlohmann::json v = value();
            obj[k.is_string() ? k.get<std::string>() : k.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)] = std::move(v);
            if (eat('}')) return obj;
            if (!eat(',')) fail("expected ',' or '}' in a dict");
            if (eat('}')) return obj;  // trailing comma
        }
    }

    nlohmann::json sequence(char open, char close) {
        eat(open);
        nlohmann::json arr = nlohmann::json::array();
        if (eat(close)) return arr;
        while (true) {
            arr.push_back(value());
            if (eat(close)) return arr;
            if (!eat(',')) fail(std::string("expected ',' or '") + close + "'");
            if (eat(close)) return arr;
        }
    }

    nlohmann::json string() {
        const char q = s_[i_++];
        std::string out;
        while (i_ < s_.size() && s_[i_] != q) {
            char c = s_[i_++];
            if (c == '\\' && i_ < s_.size()) {
                const char e = s_[i_++];
                switch (e) {
                    case 'n': c = '\n'; break;
                    case 't': c = '\t'; break;
                    default: c = e;  // \\, \', \" and anything else: the character itself
                }
            }
            out += c;
        }
        if (i_ >= s_.size()) fail("unterminated string");
        ++i_;
        // Checked here so that no caller meets it later: nlohmann::json holds invalid UTF-8 but
        // throws its own type_error when it is written out (found by fuzz_python_literal).
        try {
            (void)nlohmann::json(out).dump();
        } catch (const nlohmann::json::type_error&) {
            fail("string is not valid UTF-8");
        }
        return out;
    }

    nlohmann::json number() {
        const std::size_t start = i_;
        if (i_ < s_.size() && (s_[i_] == '-' || s_[i_] == '+')) ++i_;
        bool is_float = false;
        while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' || s_[i_] == 'e' ||
                                  s_[i_] == 'E' || ((s_[i_] == '-' || s_[i_] == '+') && (s_[i_ - 1] == 'e' || s_[i_ - 1] == 'E')))) {
            if (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E') is_float = true;
            ++i_;
        }
        const std::string tok = s_.substr(start, i_ - start);
        if (tok.empty() || tok == "-" || tok == "+") fail("expected a value");
        try {
            if (is_float) return std::stod(tok);
            return std::stoll(tok);
        } catch (const std::exception&) {
            fail("bad number '" + tok + "'");
        }
    }
};

}  // namespace

nlohmann::json parse_python_literal(const std::string& text) { return LiteralParser(text).parse_all(); }

std::map<int, std::string> parse_class_names(const std::string& text) {
    const nlohmann::json v = parse_python_literal(text);
    std::map<int, std::string> names;
    if (v.is_object()) {
        for (const auto& [k, name] : v.items()) {
            if (!name.is_string()) throw Error("class names: value for key " + k + " is not a string");
            try {
                names[std::stoi(k)] = name.get<std::string>();
            } catch (const std::exception&) {
                throw Error("class names: key '" + k + "' is not a class index");
            }
        }
    } else if (v.is_array()) {
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (!v[i].is_string()) throw Error("class names: entry " + std::to_string(i) + " is not a string");
            names[static_cast<int>(i)] = v[i].get<std::string>();
        }
    } else {
        throw Error("class names: expected a dict {0: 'name', ...} or a list, got " + v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    return names;
}

std::optional<std::pair<int, int>> parse_imgsz(const std::string& text) {
    nlohmann::json v;
    try {
        v = parse_python_literal(text);
    } catch (const Error&) {
        return std::nullopt;
    }
    if (v.is_number_integer()) return std::make_pair(v.get<int>(), v.get<int>());
    if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer())
        return std::make_pair(v[0].get<int>(), v[1].get<int>());
    return std::nullopt;
}

}  // namespace tiledet
