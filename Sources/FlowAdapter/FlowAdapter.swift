/// Reads flow files and compiles them.
public enum FlowAdapter {}
