@_exported import Dense
