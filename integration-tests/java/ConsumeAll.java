// The Java consumer as a reference reader for integration-tests/tests/transactions.rs: reads
// every partition of a topic from the beginning with the given isolation.level and prints one
// line per record, "REC <partition> <offset> <value>", until it has `expect` records and
// nothing more arrived for 2 s (or 60 s passed).
//
//   java -cp "$KAFKA_LIBS/*" ConsumeAll.java BOOTSTRAP TOPIC PARTITIONS ISOLATION EXPECT

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

public class ConsumeAll {
    public static void main(String[] args) {
        Properties p = new Properties();
        p.put("bootstrap.servers", args[0]);
        p.put("isolation.level", args[3]);
        p.put("auto.offset.reset", "earliest");
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        int partitions = Integer.parseInt(args[2]);
        int expect = Integer.parseInt(args[4]);
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < partitions; i++) {
            tps.add(new TopicPartition(args[1], i));
        }
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.currentTimeMillis() + 60_000;
            long quietUntil = Long.MAX_VALUE;
            int n = 0;
            while (System.currentTimeMillis() < Math.min(deadline, quietUntil)) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    System.out.println("REC " + r.partition() + " " + r.offset() + " " + r.value());
                    n++;
                    quietUntil = Long.MAX_VALUE;
                }
                if (n >= expect && quietUntil == Long.MAX_VALUE) {
                    quietUntil = System.currentTimeMillis() + 2_000;
                }
            }
        }
    }
}
