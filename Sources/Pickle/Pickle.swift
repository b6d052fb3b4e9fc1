/// A bounded, safe reader and writer for the subset of Python's pickle format that ARQ writes.
public enum Pickle {}
