#include <gtest/gtest.h>

#include "tiledet/error.hpp"
#include "tiledet/runtime/metadata.hpp"
#include "python_literal.hpp"

using namespace tiledet;

TEST(PythonLiteralMetadata, ParsesUltralyticsNamesDict) {
    const auto names = parse_class_names("{0: 'person', 1: 'bicycle', 2: \"traffic light\", 10: 'it\\'s'}");
    ASSERT_EQ(names.size(), 4u);
    EXPECT_EQ(names.at(0), "person");
    EXPECT_EQ(names.at(2), "traffic light");
    EXPECT_EQ(names.at(10), "it's");
}

TEST(PythonLiteralMetadata, ParsesNamesList) {
    const auto names = parse_class_names("['a', 'b']");
    EXPECT_EQ(names.at(1), "b");
}

TEST(PythonLiteralMetadata, ParsesImgszListTupleAndScalar) {
    EXPECT_EQ(parse_imgsz("[640, 480]"), std::make_pair(640, 480));
    EXPECT_EQ(parse_imgsz("(320, 320)"), std::make_pair(320, 320));
    EXPECT_EQ(parse_imgsz("512"), std::make_pair(512, 512));
    EXPECT_FALSE(parse_imgsz("'big'").has_value());
}

TEST(PythonLiteralMetadata, ParsesNestedValuesAndKeywords) {
    const auto j = parse_python_literal("{'a': [1, 2.5, -3e2], 'b': (True, False, None), 'c': {}}");
    EXPECT_EQ(j["a"][0], 1);
    EXPECT_DOUBLE_EQ(j["a"][1].get<double>(), 2.5);
    EXPECT_DOUBLE_EQ(j["a"][2].get<double>(), -300.0);
    EXPECT_EQ(j["b"][0], true);
    EXPECT_TRUE(j["b"][2].is_null());
    EXPECT_TRUE(j["c"].is_object());
}

TEST(PythonLiteralMetadata, MalformedTextSaysWhere) {
    try {
        parse_python_literal("{0: 'person'");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("character"), std::string::npos);
    }
}

// fuzz_python_literal found both (fuzz/regressions/fuzz_python_literal/): a string that is not
// UTF-8 escaped as nlohmann's type_error when the value was written out (parse_class_names'
// own message does), and deep nesting overflowed the stack.
TEST(PythonLiteralMetadata, StringThatIsNotUtf8IsAClearError) {
    try {
        parse_class_names("'\xff'");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
    }
    EXPECT_THROW(parse_class_names("{0: '\xc3'}"), Error);
    EXPECT_EQ(parse_class_names("{0: 'caf\xc3\xa9'}").at(0), "caf\xc3\xa9");  // valid UTF-8 stays
}

TEST(PythonLiteralMetadata, DeepNestingIsAClearErrorNotAStackOverflow) {
    try {
        parse_python_literal(std::string(100000, '['));
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("nested deeper than 64 levels"), std::string::npos) << e.what();
    }
    EXPECT_NO_THROW(parse_python_literal(std::string(64, '[') + std::string(64, ']')));
    EXPECT_THROW(parse_python_literal(std::string(65, '[') + std::string(65, ']')), Error);
}
