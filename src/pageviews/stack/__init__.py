"""The distributed runtime's services, started natively: Kafka (KRaft), MariaDB, Kafka Connect."""
