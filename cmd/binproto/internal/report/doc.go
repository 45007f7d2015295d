// Package report holds the data model of a benchmark run (the versioned
// results.json schema), its validation, statistics-free presentation of the
// numbers (console tables, Markdown report, PNG plots), and the comparison of
// a run against a previous one with regressions flagged.
//
// The package knows nothing about how numbers are measured: package bench
// fills a Results value and hands it here.
package report
