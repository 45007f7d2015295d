// Package resources samples the CPU use and resident memory of the current
// process over time, using gopsutil, and labels every sample with the
// benchmark phase that was running when it was taken.
package resources
