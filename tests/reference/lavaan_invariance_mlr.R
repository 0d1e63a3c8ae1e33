# Reference numbers for the invariance sequence with robust ML (estimator = "MLR"): each
# level's fit with its Yuan-Bentler scaling factor and robust CFI, and lavTestLRT's
# default difference test for scaled statistics (Satorra-Bentler 2001), frozen in
# tests/unit/models/test_invariance_mlr.py. lavaan 0.6-14 (Debian's r-cran-lavaan):
#
#   Rscript tests/reference/lavaan_invariance_mlr.R > tests/reference/lavaan_invariance_mlr.json
suppressMessages(library(lavaan))
stopifnot(packageVersion("lavaan") == "0.6.14")

json_number <- function(x) if (is.na(x)) "null" else sprintf("%.10g", x)
json_vector <- function(v) paste0("[", paste(vapply(v, json_number, ""), collapse = ", "), "]")
json_strings <- function(v) paste0("[", paste0('"', v, '"', collapse = ", "), "]")

hs <- HolzingerSwineford1939
model <- '
  visual  =~ x1 + x2 + x3
  textual =~ x4 + x5 + x6
  speed   =~ x7 + x8 + x9
'
levels <- list(configural = "", metric = c("loadings"),
               scalar = c("loadings", "intercepts"),
               strict = c("loadings", "intercepts", "residuals"))
measures <- c("chisq", "df", "chisq.scaled", "chisq.scaling.factor", "cfi", "cfi.robust",
              "tli.robust", "rmsea.robust")
fits <- lapply(levels, function(equal)
  cfa(model, data = hs, group = "school", estimator = "MLR", group.equal = equal))
cat("{\n")
cat('  "measures": ', json_strings(measures), ",\n", sep = "")
cat('  "levels": {\n')
rows <- character(0)
for (name in names(levels)) {
  rows <- c(rows, sprintf('    "%s": %s', name, json_vector(fitMeasures(fits[[name]], measures))))
}
cat(paste(rows, collapse = ",\n"), "\n  },\n", sep = "")
# Each step against the one before: the scaled difference, its df and p-value.
cat('  "differences": {\n')
rows <- character(0)
for (k in 2:length(levels)) {
  test <- lavTestLRT(fits[[k - 1]], fits[[k]])
  rows <- c(rows, sprintf('    "%s": {"chisq_diff": %s, "df_diff": %s, "p_value": %s}',
                          names(levels)[k], json_number(test[["Chisq diff"]][2]),
                          json_number(test[["Df diff"]][2]), json_number(test[["Pr(>Chisq)"]][2])))
}
cat(paste(rows, collapse = ",\n"), "\n  },\n", sep = "")
# lavTestLRT's default for scaled statistics; say so only when it is the one used.
stopifnot(grepl("satorra.bentler.2001", attr(lavTestLRT(fits[[1]], fits[[2]]), "heading")))
cat('  "method": "satorra.bentler.2001"\n')
cat("}\n")
