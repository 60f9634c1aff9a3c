"""Pages about the rules themselves: a context as a table, the differences between two
contexts, and best references for a dataset, with the crds library doing the rules work."""
