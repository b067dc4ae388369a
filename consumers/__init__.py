"""faust-streaming agents: consume Kafka, drive projections, dead-letter what fails."""
