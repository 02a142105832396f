// lexer.h — splits a template into jinja2's tokens: text, {{ }} / {% %} tag
// boundaries and the expression tokens inside, applying trim_blocks,
// lstrip_blocks, the -/+ whitespace controls, comments and {% raw %} as jinja2's
// lexer does, so whitespace comes out byte for byte the same.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llm4all::jinja {

enum class Tok : uint8_t { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
    Tok type;
    uint32_t line, col;
    std::string text;  // Data/Name/String (unescaped)/Op; Int/Float: source digits
    int64_t ival = 0;
    int base = 0;  // Int too large for int64: text holds the digits in this base
    double fval = 0;
};

// src is normalised first (\r\n and \r -> \n, one trailing newline dropped, as
// jinja2 does without keep_trailing_newline). Throws TemplateError.
std::vector<Token> lex_template(std::string_view src);

} // namespace llm4all::jinja
