// pretokenize.h — splits text into words before byte-level BPE, the way the
// regexes named by tokenizer.ggml.pre do in llama.cpp. Each regex is a
// hand-written matcher over Unicode classes (no std::regex: it knows no \p{..}
// and is slow); several regexes apply in turn, each one splitting the pieces
// left by the previous one, and text between matches stays a piece of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace llm4all {

class PreTokenizer {
public:
    enum class Step : uint8_t {
        Gpt2,            // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
        Llama3,          // (?i:'s|..)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
        Qwen2,           // same as Llama3 with \p{N} one digit at a time
        EachDigit,       // \p{N}
        DigitRun,        // \p{N}+
        ThreeAsciiDigits,// [0-9][0-9][0-9]
        PunctDefault,    // [\p{P}\$\+<=>\^~\|]+
        PunctFalcon,     // [\p{P}\$\+<=>\^~\|`]+
        CrOrLf,          // [\r\n]
        SpaceLetters,    // \s?\p{L}+
        SpacePunct,      // \s?\p{P}+
        Cjk,             // [一-龥ࠀ-一가-퟿]+
        DeepseekLetters, // \s?[A-Za-zµÀ-ÖØ-ö...]+  (deepseek-llm's explicit letter list)
        DeepseekPunct,   // \s?[!-/:-~！-／：-～‘-‟　-。]+
        TrailingSpace,   // \s+$
        Poro,            //  ?[^(\s|.,!?…。，、।۔،)]+
        Tekken,          // Mistral Nemo's regex as llama.cpp runs it (upper/lower case split by [^a-z]/[^A-Z])
        DigitsUpTo3,     // \p{N}{1,3}
        CjkKana,         // [一-龥぀-ゟ゠-ヿ]+
        ChamSentinel,    // <sentinel:[0-9]+>
        ChamImage,       // (IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z
        ChamSpaces,      // ([\t\n]|    |  )
        ChamPunct,       // [\p{P}!-/:-@\[-`{-~]
        DeepseekV3,      // [!-/:-@[-`{-~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    };

    // Picks the regex list for a tokenizer.ggml.pre name. known is false for
    // names we do not implement (the default list is used then).
    PreTokenizer(const std::string &pre_name, bool &known);

    // Appends the lengths (in code points) of the pieces of cps.
    void split(const std::vector<uint32_t> &cps, std::vector<size_t> &lengths) const;

    const std::vector<Step> &steps() const { return steps_; }

private:
    std::vector<Step> steps_;
};

} // namespace llm4all
