// The one writer of bench's and eval's results: a table of records, each a row of cells, written
// as Markdown, CSV or JSON; and the summaries of repeated measurements the cells show.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tools/cli.h"

namespace lazyllm::cli {

enum class Format { kMarkdown, kCsv, kJson };
// -o md|csv|json (default md).
Format ParseFormat(const Flags& flags);

// Repeated measurements summarised as their mean and a spread: the sample standard deviation
// (bench) or the half-width of a 95% Student-t interval (eval).
enum class Spread { kStddev, kCi95 };
struct Summary {
  double mean = 0, spread = 0;
};
Summary Summarize(const std::vector<double>& samples, Spread spread);
// "12.3 ± 0.4": mean and spread with `precision` decimals, both times `scale`.
std::string PlusMinus(const Summary& s, int precision, double scale = 1.0);
// "mean ± spread" of samples with `precision` decimals times `scale`, or "-" without samples.
std::string SamplesText(const std::vector<double>& samples, Spread spread, int precision, double scale = 1.0);
// printf-style formatting of one number.
std::string Fixed(const char* format, double v);

// One value of a record as each format shows it: its JSON member, its CSV columns and its
// Markdown column. A format a cell leaves empty does not show it.
struct Cell {
  std::string json_key;
  json json_value;
  std::vector<std::pair<std::string, std::string>> csv;  // (column, text)
  std::string md_header, md_text;
  bool md_right = true;  // numbers align right, text left
};
using ReportRecord = std::vector<Cell>;

// A text cell (quoted in CSV when `csv_quoted`).
Cell TextCell(const std::string& key, const std::string& value, const std::string& md_header, bool csv_quoted);
// A whole-number cell, under the same name in JSON and CSV.
Cell IntCell(const std::string& key, int64_t value, const std::string& md_header);
// Samples: in JSON their mean, spread and samples ({"mean", "stddev"|"ci95", "samples"|"values"};
// absent without samples); in CSV the mean (and, with csv_spread, CSV_mean and CSV_sd) in
// csv_format; in Markdown "mean ± spread" (or, without md_spread, the mean) times md_scale with
// md_precision decimals, or "-" without samples.
struct SamplesStyle {
  Spread spread = Spread::kStddev;
  const char* csv_format = "%.3f";
  bool csv_spread = true;
  int md_precision = 1;
  double md_scale = 1.0;
  bool md_spread = true;
};
Cell SamplesCell(const std::string& json_key, const std::string& csv_column, const std::string& md_header,
                 const std::vector<double>& samples, const SamplesStyle& style);

// Writes the records to standard output: Markdown after `md_preamble` (one line and a blank
// line) as a table with a header row; CSV with a header row; JSON as an array of objects. With
// `env`, every CSV row and JSON object ends with the environment it was measured in (EnvFields).
void WriteReport(Format format, const std::vector<ReportRecord>& records, const std::string& md_preamble, bool env);

}  // namespace lazyllm::cli
