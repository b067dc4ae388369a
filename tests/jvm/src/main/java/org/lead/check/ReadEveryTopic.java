package org.lead.check;

import io.cloudevents.CloudEvent;
import io.cloudevents.kafka.CloudEventDeserializer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads every message of each topic named, from the beginning to the current end, and
 * parses each with the CloudEvents Java SDK's Kafka binding (CloudEventDeserializer:
 * structured or binary mode as the content-type header says).
 *
 * <p>Arguments: bootstrap CA-file user password-file mechanism topic... Prints one line
 * per topic, {@code TOPIC <name> parsed=<n> failed=<n> without-content-type=<n>}, then a
 * {@code FAILED <topic> <partition> <offset> <error>} line for each message that did not
 * parse. Kafka's consumer hands a tombstone (null value) over without calling its value
 * deserializer, so every record is read as bytes and given to CloudEventDeserializer
 * here: a tombstone must parse too (binary mode, no data).
 */
public final class ReadEveryTopic {
  public static void main(String[] args) throws Exception {
    if (args.length < 6) {
      System.err.println("usage: bootstrap ca-file user password-file mechanism topic...");
      System.exit(2);
    }
    String password = Files.readString(Path.of(args[3]), StandardCharsets.UTF_8).strip();
    Properties props = new Properties();
    props.put("bootstrap.servers", args[0]);
    props.put("security.protocol", "SASL_SSL");
    props.put("ssl.truststore.type", "PEM");
    props.put("ssl.truststore.location", args[1]);
    props.put("sasl.mechanism", args[4]);
    props.put(
        "sasl.jaas.config",
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
            + args[2]
            + "\" password=\""
            + password
            + "\";");
    props.put("enable.auto.commit", "false");
    props.put("max.poll.records", "5000");

    CloudEventDeserializer cloudEvents = new CloudEventDeserializer();
    cloudEvents.configure(Map.of(), false);
    int failures = 0;
    try (KafkaConsumer<byte[], byte[]> consumer =
        new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      for (int i = 5; i < args.length; i++) {
        String topic = args[i];
        List<TopicPartition> partitions = new ArrayList<>();
        for (PartitionInfo info : consumer.partitionsFor(topic, Duration.ofSeconds(30))) {
          partitions.add(new TopicPartition(topic, info.partition()));
        }
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        Map<TopicPartition, Long> end = new HashMap<>(consumer.endOffsets(partitions));
        int parsed = 0;
        int failed = 0;
        int bare = 0;
        List<String> errors = new ArrayList<>();
        long deadline = System.nanoTime() + Duration.ofSeconds(45).toNanos();
        while (end.entrySet().stream().anyMatch(e -> consumer.position(e.getKey()) < e.getValue())) {
          if (System.nanoTime() > deadline) {
            throw new IllegalStateException(topic + ": not read to its end within 45 s");
          }
          for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(500))) {
            if (record.offset() >= end.get(new TopicPartition(topic, record.partition()))) {
              continue;
            }
            Header type = record.headers().lastHeader("content-type");
            if (type == null) {
              bare++;
            }
            try {
              CloudEvent event = cloudEvents.deserialize(topic, record.headers(), record.value());
              if (event.getId() == null || event.getType() == null || event.getSource() == null) {
                throw new IllegalStateException("no id, type or source");
              }
              parsed++;
            } catch (RuntimeException e) {
              failed++;
              errors.add(
                  "FAILED " + topic + " " + record.partition() + " " + record.offset() + " "
                      + e.toString().replace('\n', ' '));
            }
          }
        }
        System.out.println(
            "TOPIC " + topic + " parsed=" + parsed + " failed=" + failed
                + " without-content-type=" + bare);
        errors.forEach(System.out::println);
        failures += failed;
      }
    }
    System.out.flush();
    System.exit(failures == 0 ? 0 : 1);
  }
}
