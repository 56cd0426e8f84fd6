import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Conformance checks: the Java kafka-clients against kafka-test-broker (3 brokers). Prints one
 * PASS/FAIL line per check; exits 1 on any failure.
 */
public final class Conformance {
    private static final int RECORDS = 100;
    private static String bootstrap;
    /** The SASL_SSL broker (user alice, 1.5 s sessions) and the CA that signed its certificate. */
    private static String secureBootstrap;
    private static String caPem;
    private static String txV1Bootstrap;
    private static final List<String> FAILURES = new ArrayList<>();

    interface Check {
        void run() throws Exception;
    }

    private static void check(String name, Check body) {
        long start = System.nanoTime();
        try {
            body.run();
            System.out.printf("PASS %s (%.1fs)%n", name, (System.nanoTime() - start) / 1e9);
        } catch (Throwable e) {
            FAILURES.add(name);
            System.out.printf("FAIL %s: %s%n", name, e);
            e.printStackTrace(System.out);
        }
        System.out.flush();
    }

    private static void secureChecks() {
        String topic = "java-secure-" + UUID.randomUUID().toString().substring(0, 8);
        check("java: SASL_SSL with SCRAM-SHA-512/256, re-authenticating every 1.5 s (KIP-368)", () -> {
            Properties p = secure("SCRAM-SHA-512", "alice-secret");
            p.put("enable.idempotence", "true");
            p.put("key.serializer", StringSerializer.class.getName());
            p.put("value.serializer", StringSerializer.class.getName());
            int sent = 0;
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
                long deadline = System.currentTimeMillis() + 4_000;
                while (System.currentTimeMillis() < deadline) {
                    RecordMetadata m = producer.send(new ProducerRecord<>(topic, "v" + sent)).get();
                    require(m.offset() == sent, "offset " + m.offset() + " for record " + sent);
                    sent++;
                    Thread.sleep(200);
                }
            }
            Properties c = secure("SCRAM-SHA-256", "alice-secret");
            c.put("key.deserializer", StringDeserializer.class.getName());
            c.put("value.deserializer", StringDeserializer.class.getName());
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
                TopicPartition tp = new TopicPartition(topic, 0);
                consumer.assign(List.of(tp));
                consumer.seekToBeginning(List.of(tp));
                List<String> got = new ArrayList<>();
                long deadline = System.currentTimeMillis() + 30_000;
                while (got.size() < sent && System.currentTimeMillis() < deadline) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                        got.add(r.value());
                    }
                }
                require(got.size() == sent, "consumed " + got.size() + " of " + sent);
                for (int i = 0; i < sent; i++) {
                    require(got.get(i).equals("v" + i), "record " + i + " is " + got.get(i));
                }
            }
        });
        check("java: SASL_SSL PLAIN admin; a wrong password is refused", () -> {
            try (Admin admin = Admin.create(secure("PLAIN", "alice-secret"))) {
                require(admin.describeCluster().nodes().get().size() == 1, "one broker");
            }
            Properties bad = secure("PLAIN", "wrong");
            bad.put("request.timeout.ms", "5000");
            bad.put("default.api.timeout.ms", "10000");
            try (Admin admin = Admin.create(bad)) {
                admin.describeCluster().nodes().get();
                throw new AssertionError("described the cluster with a wrong password");
            } catch (ExecutionException e) {
                require(e.getCause() instanceof org.apache.kafka.common.errors.SaslAuthenticationException,
                        "SaslAuthenticationException, got " + e.getCause());
                require(e.getCause().getMessage().contains("Invalid username or password"), e.getCause().getMessage());
            }
        });
    }

    private static void require(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    private static Admin admin() {
        return admin(bootstrap);
    }

    private static Admin admin(String servers) {
        Properties p = new Properties();
        p.put("bootstrap.servers", servers);
        p.put("default.api.timeout.ms", "30000");
        return Admin.create(p);
    }

    private static Properties secure(String mechanism, String password) {
        Properties p = new Properties();
        p.put("bootstrap.servers", secureBootstrap);
        p.put("security.protocol", "SASL_SSL");
        p.put("sasl.mechanism", mechanism);
        String module = mechanism.equals("PLAIN")
                ? "org.apache.kafka.common.security.plain.PlainLoginModule"
                : "org.apache.kafka.common.security.scram.ScramLoginModule";
        p.put("sasl.jaas.config", module + " required username=\"alice\" password=\"" + password + "\";");
        p.put("ssl.truststore.type", "PEM");
        p.put("ssl.truststore.location", caPem);
        return p;
    }

    // Commits, aborts and commits again with offsets in the transaction, on the cluster at
    // `servers`: with transactions v2 (KIP-890) each EndTxn bumps the producer epoch, before it
    // the epoch stays.
    private static void transactions(String servers, String topic, int replicas, boolean v2) throws Exception {
        String txTopic = topic + "-tx";
        String txId = "java-tx-" + topic;
        String group = "java-tx-group-" + topic;
        try (Admin admin = admin(servers)) {
            admin.createTopics(List.of(new NewTopic(txTopic, 1, (short) replicas))).all().get();
            Properties p = new Properties();
            p.put("bootstrap.servers", servers);
            p.put("transactional.id", txId);
            p.put("key.serializer", StringSerializer.class.getName());
            p.put("value.serializer", StringSerializer.class.getName());
            int first;
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
                producer.initTransactions();
                first = admin.describeTransactions(List.of(txId)).description(txId).get().producerEpoch();
                producer.beginTransaction();
                for (int i = 0; i < 3; i++) {
                    producer.send(new ProducerRecord<>(txTopic, "committed-" + i));
                }
                producer.sendOffsetsToTransaction(
                        Map.of(new TopicPartition(txTopic, 0), new OffsetAndMetadata(3)),
                        new org.apache.kafka.clients.consumer.ConsumerGroupMetadata(group));
                producer.commitTransaction();
                producer.beginTransaction();
                producer.send(new ProducerRecord<>(txTopic, "aborted"));
                producer.flush();
                producer.abortTransaction();
                producer.beginTransaction();
                producer.send(new ProducerRecord<>(txTopic, "committed-3"));
                producer.commitTransaction();
            }
            int last = admin.describeTransactions(List.of(txId)).description(txId).get().producerEpoch();
            if (v2) {
                require(last == first + 3, "one epoch bump per EndTxn under transactions v2: " + first + " -> " + last);
            } else {
                require(last == first, "one epoch for every transaction before KIP-890: " + first + " -> " + last);
            }
            OffsetAndMetadata o = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get()
                    .get(new TopicPartition(txTopic, 0));
            require(o != null && o.offset() == 3, "transactional offset committed: " + o);
        }
        Properties c = new Properties();
        c.put("bootstrap.servers", servers);
        c.put("isolation.level", "read_committed");
        c.put("key.deserializer", StringDeserializer.class.getName());
        c.put("value.deserializer", StringDeserializer.class.getName());
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
            TopicPartition tp = new TopicPartition(txTopic, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            List<String> got = new ArrayList<>();
            long deadline = System.currentTimeMillis() + 30_000;
            while (got.size() < 4 && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    got.add(r.value());
                }
            }
            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                got.add(r.value());
            }
            require(got.equals(List.of("committed-0", "committed-1", "committed-2", "committed-3")),
                    "read_committed sees the committed records only: " + got);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1 && args.length != 3 && args.length != 4) {
            System.err.println("usage: Conformance BOOTSTRAP [SASL_SSL_BOOTSTRAP CA_PEM [TXV1_BOOTSTRAP]]");
            System.exit(2);
        }
        bootstrap = args[0];
        if (args.length >= 3) {
            secureBootstrap = args[1];
            caPem = args[2];
        }
        if (args.length == 4) {
            txV1Bootstrap = args[3];
        }
        String topic = "java-" + UUID.randomUUID().toString().substring(0, 8);

        check("java: admin create / describe topics and cluster", () -> {
            try (Admin admin = admin()) {
                Collection<Node> nodes = admin.describeCluster().nodes().get();
                require(nodes.size() == 3, "3 brokers, got " + nodes);
                admin.createTopics(List.of(new NewTopic(topic, 3, (short) 3))).all().get();
                require(admin.listTopics().names().get().contains(topic), "topic listed");
                TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
                require(d.partitions().size() == 3, "3 partitions, got " + d.partitions().size());
                for (TopicPartitionInfo p : d.partitions()) {
                    require(p.replicas().size() == 3 && p.isr().size() == 3, "3 replicas in sync: " + p);
                    require(p.leader() != null && p.leader().id() == p.replicas().get(0).id(), "preferred leader: " + p);
                }
                try {
                    admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
                    throw new AssertionError("creating an existing topic succeeded");
                } catch (ExecutionException e) {
                    require(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException,
                            "TopicExistsException, got " + e.getCause());
                }
            }
        });

        Map<Integer, Long> perPartition = new HashMap<>();
        check("java: idempotent producer, dense offsets", () -> {
            Properties p = new Properties();
            p.put("bootstrap.servers", bootstrap);
            p.put("enable.idempotence", "true");
            p.put("acks", "all");
            p.put("max.in.flight.requests.per.connection", "5");
            p.put("key.serializer", StringSerializer.class.getName());
            p.put("value.serializer", StringSerializer.class.getName());
            List<java.util.concurrent.Future<RecordMetadata>> sent = new ArrayList<>();
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
                for (int i = 0; i < RECORDS; i++) {
                    sent.add(producer.send(new ProducerRecord<>(topic, "key-" + (i % 7), "value-" + i)));
                }
                producer.flush();
                Map<Integer, List<Long>> offsets = new HashMap<>();
                for (var f : sent) {
                    RecordMetadata m = f.get();
                    offsets.computeIfAbsent(m.partition(), k -> new ArrayList<>()).add(m.offset());
                }
                for (var e : offsets.entrySet()) {
                    List<Long> os = e.getValue();
                    for (int i = 0; i < os.size(); i++) {
                        require(os.get(i) == i, "partition " + e.getKey() + " offsets dense from 0: " + os);
                    }
                    perPartition.put(e.getKey(), (long) os.size());
                }
            }
        });

        check("java: group consumer reads every record in order and commits", () -> {
            Properties p = new Properties();
            p.put("bootstrap.servers", bootstrap);
            p.put("group.id", "java-group-" + topic);
            p.put("auto.offset.reset", "earliest");
            p.put("enable.auto.commit", "false");
            p.put("key.deserializer", StringDeserializer.class.getName());
            p.put("value.deserializer", StringDeserializer.class.getName());
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
                consumer.subscribe(List.of(topic));
                Map<Integer, List<Integer>> values = new HashMap<>();
                int n = 0;
                long deadline = System.currentTimeMillis() + 60_000;
                while (n < RECORDS && System.currentTimeMillis() < deadline) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                        values.computeIfAbsent(r.partition(), k -> new ArrayList<>())
                                .add(Integer.parseInt(r.value().substring("value-".length())));
                        n++;
                    }
                }
                require(n == RECORDS, "consumed " + n + " of " + RECORDS);
                for (var e : values.entrySet()) {
                    List<Integer> vs = e.getValue();
                    for (int i = 1; i < vs.size(); i++) {
                        require(vs.get(i - 1) < vs.get(i), "partition " + e.getKey() + " in send order: " + vs);
                    }
                }
                require(consumer.assignment().size() == 3, "the only member owns all 3 partitions");
                consumer.commitSync();
                Set<TopicPartition> tps = consumer.assignment();
                Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(tps);
                for (TopicPartition tp : tps) {
                    long expected = perPartition.getOrDefault(tp.partition(), 0L);
                    OffsetAndMetadata o = committed.get(tp);
                    require(o != null && o.offset() == expected, tp + " committed " + o + ", expected " + expected);
                }
            }
        });

        check("java: transactions v2 (KIP-890): commit, abort, offsets, an epoch per transaction",
                () -> transactions(bootstrap, topic, 3, true));
        if (txV1Bootstrap != null) {
            check("java: transactions v1 (transaction.version=1): commit, abort, offsets, one epoch",
                    () -> transactions(txV1Bootstrap, topic, 1, false));
        }

        check("java: admin elect leaders, reassign partitions, describe log dirs", () -> {
            try (Admin admin = admin()) {
                TopicPartition tp = new TopicPartition(topic, 0);
                Map<TopicPartition, Optional<Throwable>> r =
                        admin.electLeaders(ElectionType.PREFERRED, Set.of(tp)).partitions().get();
                require(r.get(tp).isPresent() && r.get(tp).get() instanceof ElectionNotNeededException,
                        "already preferred: " + r);
                TopicPartitionInfo before =
                        admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().get(0);
                List<Integer> reversed = before.replicas().stream().map(Node::id).collect(Collectors.toList());
                java.util.Collections.reverse(reversed);
                admin.alterPartitionReassignments(Map.of(tp, Optional.of(new NewPartitionReassignment(reversed))))
                        .all().get();
                require(admin.listPartitionReassignments().reassignments().get().isEmpty(),
                        "reassignments complete at once");
                r = admin.electLeaders(ElectionType.PREFERRED, Set.of(tp)).partitions().get();
                require(r.get(tp).isEmpty(), "elected: " + r);
                TopicPartitionInfo after =
                        admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().get(0);
                require(after.leader().id() == reversed.get(0), "new preferred leader leads: " + after);
                Set<Integer> brokers = new HashSet<>(List.of(1, 2, 3));
                for (Node n : admin.describeCluster().nodes().get()) {
                    brokers.add(n.id());
                }
                Map<Integer, Map<String, LogDirDescription>> dirs =
                        admin.describeLogDirs(brokers).allDescriptions().get();
                for (var e : dirs.entrySet()) {
                    require(e.getValue().size() == 1, "one log dir on broker " + e.getKey());
                    LogDirDescription d = e.getValue().values().iterator().next();
                    require(d.error() == null, "log dir error " + d.error());
                    ReplicaInfo info = d.replicaInfos().get(tp);
                    long expected = perPartition.getOrDefault(0, 0L);
                    require(info != null && (expected == 0 || info.size() > 0) && info.offsetLag() == 0,
                            "broker " + e.getKey() + " replica of " + tp + ": " + info);
                }
            }
        });

        if (secureBootstrap != null) {
            secureChecks();
        }
        System.out.println(FAILURES.isEmpty() ? "all Java checks passed" : FAILURES.size() + " Java failure(s)");
        System.exit(FAILURES.isEmpty() ? 0 : 1);
    }
}
