// Progress reporting, loss history CSV and PNG, accuracy.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <utility>
#include <vector>

#include "check_error.hpp"
#include "tapegrad/nn/metrics.hpp"
#include "tapegrad/nn/train.hpp"
#include "temp_dir.hpp"

using tg::TensorD;

TEST_CASE("accuracy counts rows whose largest score is at the label") {
  TensorD scores = TensorD::matrix({{0.1, 0.7, 0.2}, {0.5, 0.4, 0.1}, {0.2, 0.2, 0.6}, {1, 0, 0}});
  CHECK(tg::nn::accuracy(scores, {1, 0, 2, 1}) == doctest::Approx(0.75));
  CHECK_THROWS_AS(tg::nn::accuracy(scores, {1, 0}), tg::ShapeError);
}

TEST_CASE("accuracy on scores picks the class argmax_rows and predict pick, NaN included") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Row 0: a NaN is the largest score (torch.argmax), so class 1, not 2. Row 1: a tie at 0.5,
  // the first maximum, class 0.
  TensorD scores = TensorD::matrix({{1, nan, 2}, {0.5, 0.5, 0.1}});
  CHECK(tg::nn::argmax_rows(scores) == tg::Labels{1, 0});
  CHECK(tg::nn::accuracy(scores, {2, 0}) == 0.5);
  CHECK(tg::nn::accuracy(scores, {1, 0}) == 1.0);
}

TEST_CASE("the progress log prints one line per epoch and writes the history as CSV") {
  std::ostringstream out;
  tg::nn::ProgressLog log(3, &out);
  log.begin_epoch();
  log.end_epoch(0.5, 1000, 0.8);
  log.begin_epoch();
  const auto& r = log.end_epoch(0.25, 1000, 0.9, 0.85);
  CHECK(r.epoch == 2);
  CHECK(r.samples_per_second > 0);
  const std::string text = out.str();
  CHECK(text.find("epoch 1/3  loss 0.500000  acc 0.8000") != std::string::npos);
  CHECK(text.find("epoch 2/3  loss 0.250000  acc 0.9000  test 0.8500") != std::string::npos);
  CHECK(text.find("samples/s") != std::string::npos);
  CHECK(text.find("left") != std::string::npos);

  const auto dir = std::filesystem::temp_directory_path() / "tapegrad_train_test";
  std::filesystem::create_directories(dir);
  const auto path = (dir / "history.csv").string();
  log.write_csv(path);
  std::ifstream f(path);
  std::string header, first, second;
  std::getline(f, header);
  std::getline(f, first);
  std::getline(f, second);
  CHECK(header == "epoch,loss,accuracy,test_accuracy,samples_per_second,seconds");
  CHECK(first.rfind("1,0.5,0.8,-1,", 0) == 0);
  CHECK(second.rfind("2,0.25,0.9,0.85,", 0) == 0);
  // A write that cannot happen leaves no file behind and says where.
  CHECK_THROWS_AS(log.write_csv((dir / "no-such-dir" / "h.csv").string()), tg::Error);
  CHECK_FALSE(std::filesystem::exists(dir / "no-such-dir"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("nn accuracy: a label out of range is an IndexError, as in softmax_ce and one_hot") {
  const TensorD scores = TensorD::matrix({{0.1, 0.7, 0.2}, {0.5, 0.4, 0.1}});
  CHECK_THROWS_WITH_AS(
      tg::nn::accuracy(scores, {1, 7}),
      doctest::Contains("accuracy: label 7 at row 1 is out of range for 3 classes"),
      tg::IndexError);
  CHECK_THROWS_WITH_AS(
      tg::nn::accuracy(scores, {-1, 0}),
      doctest::Contains("accuracy: label -1 at row 0 is out of range for 3 classes"),
      tg::IndexError);
  CHECK_THROWS_WITH_AS(tg::nn::accuracy(tg::TensorF::zeros({1, 3}), {3}),
                       doctest::Contains("label 3"), tg::IndexError);
  CHECK(tg::nn::accuracy(scores, {1, 0}) == 1.0);
}

namespace {

tg::nn::ProgressLog two_epochs() {
  tg::nn::ProgressLog log(2, nullptr);
  log.begin_epoch();
  log.end_epoch(0.5, 1000, 0.8);
  log.begin_epoch();
  log.end_epoch(0.25, 1000, 0.9, 0.85);
  return log;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool has_line(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// An environment variable set for one test, and put back afterwards.
class EnvOverride {
 public:
  EnvOverride(std::string name, const std::string& value) : name_(std::move(name)) {
    const char* old = std::getenv(name_.c_str());
    had_ = old != nullptr;
    if (old) old_ = old;
    ::setenv(name_.c_str(), value.c_str(), 1);
  }
  ~EnvOverride() {
    if (had_)
      ::setenv(name_.c_str(), old_.c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }
  EnvOverride(const EnvOverride&) = delete;
  EnvOverride& operator=(const EnvOverride&) = delete;

 private:
  std::string name_;
  bool had_ = false;
  std::string old_;
};

bool gnuplot_on_path() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && ::access((dir + "/gnuplot").c_str(), X_OK) == 0) return true;
  return false;
}

void write_executable(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
}

const std::string png_signature("\x89PNG\r\n\x1a\n", 8);

// A PNG's size from its IHDR chunk: width and height big-endian at bytes 16..23.
std::pair<unsigned, unsigned> png_size(const std::string& png) {
  auto u32 = [&](std::size_t at) {
    unsigned v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(png[at + i]);
    return v;
  };
  return {u32(16), u32(20)};
}

}  // namespace

TEST_CASE("the gnuplot script holds the history and quotes the title and output path") {
  const auto log = two_epochs();
  const auto lines = lines_of(log.gnuplot_script("it's \"ok\"\n`touch x` \\n", "a b/it's.png"));
  CHECK(has_line(lines, "set terminal pngcairo size 960,600 noenhanced"));
  // Single quotes (a quote doubled), the newline spliced in as an octal escape: no backquote or
  // backslash inside double quotes, where gnuplot would run or interpret it.
  CHECK(has_line(lines, "set title 'it''s \"ok\"'.\"\\012\".'`touch x` \\n'"));
  CHECK(has_line(lines, "set output 'a b/it''s.png'"));
  CHECK(has_line(lines, "set y2tics"));
  CHECK(has_line(lines, "$history << EOD"));
  // epoch, loss, accuracy, test accuracy; not measured is NaN, which gnuplot leaves out.
  CHECK(has_line(lines, "1 0.5 0.8 NaN"));
  CHECK(has_line(lines, "2 0.25 0.9 0.85"));
  CHECK(has_line(lines, "EOD"));
  CHECK(has_line(lines, "plot $history using 1:2 axes x1y1 with linespoints title 'loss', \\"));
  CHECK(has_line(lines, "     $history using 1:3 axes x1y2 with linespoints title 'accuracy', \\"));
  CHECK(
      has_line(lines, "     $history using 1:4 axes x1y2 with linespoints title 'test accuracy'"));

  // Without an output path the PNG goes to standard output; an empty title is ''.
  const std::string plain = log.gnuplot_script("");
  CHECK(plain.find("set output") == std::string::npos);
  CHECK(has_line(lines_of(plain), "set title ''"));

  // Loss only: no right-hand axis, one curve.
  tg::nn::ProgressLog loss_only(1, nullptr);
  loss_only.begin_epoch();
  loss_only.end_epoch(2.5, 10);
  const std::string text = loss_only.gnuplot_script("t");
  CHECK(text.find("y2") == std::string::npos);
  CHECK(has_line(lines_of(text), "1 2.5 NaN NaN"));
  CHECK(
      has_line(lines_of(text), "plot $history using 1:2 axes x1y1 with linespoints title 'loss'"));

  tg::nn::ProgressLog empty(1, nullptr);
  CHECK_THROWS_WITH_AS(empty.gnuplot_script("t"), doctest::Contains("no epochs recorded"),
                       tg::Error);
}

TEST_CASE("write_png draws the history with gnuplot, or says why it cannot") {
  TempDir dir;
  const auto log = two_epochs();
  const std::string path = dir.file("it's a \"plot\" with spaces.png");
  if (gnuplot_on_path()) {
    log.write_png(path, "loss & accuracy: it's \"quoted\"");
    const std::string png = read_all(path);
    REQUIRE(png.size() > 24);
    CHECK(png.compare(0, 8, png_signature) == 0);
    CHECK(png_size(png) == std::pair<unsigned, unsigned>(960, 600));
    CHECK(dir.names() == std::vector<std::string>{"it's a \"plot\" with spaces.png"});

    // A user's startup file cannot send the picture elsewhere.
    TempDir home;
    std::ofstream(home.file(".gnuplot")) << "set output '" << home.file("elsewhere.png") << "'\n";
    {
      const EnvOverride user("HOME", home.path().string());
      log.write_png(path, "again");
    }
    CHECK(read_all(path).compare(0, 8, png_signature) == 0);
    CHECK(home.names() == std::vector<std::string>{".gnuplot"});

    // The script as written for a path of its own runs as is: gnuplot reads the quoted path back
    // exactly, and a backquote in the title stays text (no file named "ran").
    const std::string weird = dir.file("sub dir/a 'b' \"c\" $d @e.png");
    std::filesystem::create_directory(dir.path() / "sub dir");
    std::ofstream(dir.file("plot.gp")) << log.gnuplot_script("`touch ran`", weird);
    const std::string command = "cd '" + dir.path().string() + "' && gnuplot plot.gp";
    REQUIRE(std::system(command.c_str()) == 0);
    CHECK(read_all(weird).compare(0, 8, png_signature) == 0);
    CHECK_FALSE(std::filesystem::exists(dir.path() / "ran"));
  } else {
    CHECK_THROWS_WITH_AS(log.write_png(path, "t"), doctest::Contains("gnuplot not found"),
                         tg::Error);
  }
}

TEST_CASE("write_png: gnuplot missing, failing or writing no PNG is an error naming the path") {
  TempDir dir, bin;
  const auto log = two_epochs();
  const std::string path = dir.file("history.png");
  const auto write = [&] { log.write_png(path, "t"); };
  {
    const EnvOverride nothing_here("PATH", bin.path().string());
    check_error<tg::Error>(write,
                           {"write_png: " + path + ": gnuplot not found: install gnuplot-nox"});
  }
  // A stand-in gnuplot that fails the way gnuplot does on a bad script.
  write_executable(bin.file("gnuplot"),
                   "#!/bin/sh\necho '         line 3: undefined variable: x' >&2\nexit 3\n");
  {
    const EnvOverride stand_in("PATH", bin.path().string());
    check_error<tg::Error>(
        write,
        {"write_png: " + path + ": gnuplot failed (exit status 3): line 3: undefined variable: x"});
  }
  write_executable(bin.file("gnuplot"), "#!/bin/sh\necho 'no terminal' >&2\n");
  {
    const EnvOverride stand_in("PATH", bin.path().string());
    check_error<tg::Error>(
        write,
        {"write_png: " + path, "gnuplot wrote no PNG (0 bytes on standard output): no terminal"});
  }
  write_executable(bin.file("gnuplot"), "#!/bin/sh\nkill -9 $$\n");
  {
    const EnvOverride stand_in("PATH", bin.path().string());
    check_error<tg::Error>(write, {"write_png: " + path, "gnuplot was killed by signal 9"});
  }
  // Nothing was left behind: no PNG, no temporary file.
  CHECK(dir.names().empty());
  // A directory that does not exist fails before gnuplot runs.
  const std::string missing = dir.file("missing/h.png");
  check_error<tg::Error>([&] { log.write_png(missing, "t"); }, {"write_png: " + missing});
}
