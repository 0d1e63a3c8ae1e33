# Reference numbers for WLSMV on two-category items with an empty cell in a 2 x 2 table,
# where lavaan adds 0.5 to the empty cell's diagonal and takes it from the other
# (zero.add = c(0.5, 0), zero.keep.margins = TRUE, its defaults), frozen in
# tests/unit/models/test_sem_ordinal.py. lavaan 0.6-14 (Debian's r-cran-lavaan):
#
#   Rscript tests/reference/lavaan_wlsmv_binary.R > tests/reference/lavaan_wlsmv_binary.json
#
# The data: HolzingerSwineford1939's x1..x9 cut at their medians into 1/2 (x1 at its 90th
# percentile, so that few rows are 2), and x2 raised to 2 wherever x1 is 2, so that the
# (x1 = 2, x2 = 1) cell is empty. Written to
# tests/reference/hs39_binary.csv so that the Python tests read them without R.
suppressMessages(library(lavaan))
stopifnot(packageVersion("lavaan") == "0.6.14")

json_number <- function(x) if (is.na(x)) "null" else sprintf("%.10g", x)
json_vector <- function(v) paste0("[", paste(vapply(v, json_number, ""), collapse = ", "), "]")

hs <- HolzingerSwineford1939
items <- paste0("x", 1:9)
binary <- data.frame(lapply(setNames(items, items), function(v)
  as.integer(hs[[v]] > median(hs[[v]])) + 1L))
binary$x1 <- as.integer(hs$x1 > quantile(hs$x1, 0.9)) + 1L
binary$x2[binary$x1 == 2L] <- 2L
stopifnot(sum(binary$x1 == 2L & binary$x2 == 1L) == 0L)
args <- commandArgs(trailingOnly = TRUE)
csv <- if (length(args) > 0) args[1] else "tests/reference/hs39_binary.csv"
write.csv(binary, csv, row.names = FALSE, quote = FALSE)

model <- '
  visual  =~ x1 + x2 + x3
  textual =~ x4 + x5 + x6
  speed   =~ x7 + x8 + x9
'
fit <- cfa(model, data = binary, ordered = items, estimator = "WLSMV")
measures <- c("chisq", "df", "chisq.scaled", "cfi.scaled", "tli.scaled", "rmsea.scaled")
stats <- lavInspect(fit, "sampstat")
pe <- parameterEstimates(fit)
loadings <- pe[pe$op == "=~", ]
cat("{\n")
cat('  "polychoric_x1_x2": ', json_number(stats$cov["x1", "x2"]), ",\n", sep = "")
cat('  "polychoric": ', json_vector(stats$cov[lower.tri(stats$cov)]), ",\n", sep = "")
cat('  "fit": {', paste(sprintf('"%s": %s', measures,
                                vapply(fitMeasures(fit, measures), json_number, "")),
                        collapse = ", "), "},\n", sep = "")
cat('  "loadings": ', json_vector(loadings$est), ",\n", sep = "")
cat('  "loading_ses": ', json_vector(loadings$se), "\n", sep = "")
cat("}\n")
