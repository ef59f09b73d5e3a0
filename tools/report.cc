// Bench's and eval's tables as Markdown, CSV or JSON (see report.h).
#include "tools/report.h"

#include <cmath>
#include <cstdio>
#include <iostream>

#include "tools/eval_metrics.h"

namespace lazyllm::cli {

Format ParseFormat(const Flags& flags) {
  const std::string f = flags.Get("-o").value_or("md");
  if (f == "md") return Format::kMarkdown;
  if (f == "csv") return Format::kCsv;
  if (f == "json") return Format::kJson;
  throw CliError{"flag '-o': expected md, csv or json, got '" + f + "'"};
}

Summary Summarize(const std::vector<double>& samples, Spread spread) {
  if (spread == Spread::kCi95) {
    const eval::Interval i = eval::MeanCi95(samples);
    return {i.mean, i.half_width};
  }
  Summary s;
  if (samples.empty()) return s;
  for (double x : samples) s.mean += x;
  s.mean /= static_cast<double>(samples.size());
  if (samples.size() > 1) {
    double ss = 0;
    for (double x : samples) ss += (x - s.mean) * (x - s.mean);
    s.spread = std::sqrt(ss / static_cast<double>(samples.size() - 1));
  }
  return s;
}

std::string PlusMinus(const Summary& s, int precision, double scale) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f ± %.*f", precision, s.mean * scale, precision, s.spread * scale);
  return buf;
}

std::string SamplesText(const std::vector<double>& samples, Spread spread, int precision, double scale) {
  return samples.empty() ? "-" : PlusMinus(Summarize(samples, spread), precision, scale);
}

std::string Fixed(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

Cell TextCell(const std::string& key, const std::string& value, const std::string& md_header, bool csv_quoted) {
  return {key, value, {{key, csv_quoted ? "\"" + value + "\"" : value}}, md_header, value, false};
}

Cell IntCell(const std::string& key, int64_t value, const std::string& md_header) {
  return {key, value, {{key, std::to_string(value)}}, md_header, std::to_string(value)};
}

Cell SamplesCell(const std::string& json_key, const std::string& csv_column, const std::string& md_header,
                 const std::vector<double>& samples, const SamplesStyle& style) {
  const Summary s = Summarize(samples, style.spread);
  const std::string mean = Fixed(("%." + std::to_string(style.md_precision) + "f").c_str(), s.mean * style.md_scale);
  Cell c{.md_header = md_header,
         .md_text = style.md_spread   ? SamplesText(samples, style.spread, style.md_precision, style.md_scale)
                    : samples.empty() ? "-"
                                      : mean};
  if (!samples.empty()) {
    const bool ci = style.spread == Spread::kCi95;
    c.json_key = json_key;
    c.json_value = {{"mean", s.mean}, {ci ? "ci95" : "stddev", s.spread}, {ci ? "values" : "samples", samples}};
  }
  if (!csv_column.empty()) {
    const double mean = samples.empty() && style.spread == Spread::kCi95 ? NAN : s.mean;
    c.csv.push_back({style.csv_spread ? csv_column + "_mean" : csv_column, Fixed(style.csv_format, mean)});
    if (style.csv_spread) c.csv.push_back({csv_column + "_sd", Fixed(style.csv_format, s.spread)});
  }
  return c;
}

namespace {

void WriteJson(const std::vector<ReportRecord>& records, bool env) {
  json all = json::array();
  for (const ReportRecord& r : records) {
    json j = json::object();
    for (const Cell& c : r)
      if (!c.json_key.empty()) j[c.json_key] = c.json_value;
    if (env)
      for (const auto& [k, v] : EnvFields()) j[k] = v;
    all.push_back(j);
  }
  std::cout << Dump(all) << "\n";
}

// The environment's CSV header columns and values.
std::pair<std::string, std::string> CsvEnv() {
  std::string header, row;
  for (const auto& [k, v] : EnvFields()) {
    header += "," + k;
    row += "," + (v.is_string() ? "\"" + v.get<std::string>() + "\"" : v.dump());
  }
  return {header, row};
}

void WriteCsv(const std::vector<ReportRecord>& records, bool env) {
  if (records.empty()) return;
  const auto [env_header, env_row] = env ? CsvEnv() : std::pair<std::string, std::string>();
  std::string header;
  for (const Cell& c : records.front())
    for (const auto& [column, text] : c.csv) header += (header.empty() ? "" : ",") + column;
  std::cout << header << env_header << "\n";
  for (const ReportRecord& r : records) {
    std::string row;
    bool first = true;
    for (const Cell& c : r)
      for (const auto& [column, text] : c.csv) {
        row += (first ? "" : ",") + text;
        first = false;
      }
    std::cout << row << env_row << "\n";
  }
}

void WriteMarkdown(const std::vector<ReportRecord>& records, const std::string& preamble) {
  std::cout << preamble << "\n\n";
  if (records.empty()) return;
  std::string header = "|", rule = "|";
  for (const Cell& c : records.front()) {
    if (c.md_header.empty()) continue;
    header += " " + c.md_header + " |";
    rule += c.md_right ? " ---: |" : " --- |";
  }
  std::cout << header << "\n" << rule << "\n";
  for (const ReportRecord& r : records) {
    std::string row = "|";
    for (const Cell& c : r)
      if (!c.md_header.empty()) row += " " + c.md_text + " |";
    std::cout << row << "\n";
  }
}

}  // namespace

void WriteReport(Format format, const std::vector<ReportRecord>& records, const std::string& md_preamble, bool env) {
  switch (format) {
    case Format::kJson:
      return WriteJson(records, env);
    case Format::kCsv:
      return WriteCsv(records, env);
    case Format::kMarkdown:
      return WriteMarkdown(records, md_preamble);
  }
}

}  // namespace lazyllm::cli
