"""Pages and API of the people sub-domain: training records, the training matrix, delegations."""
