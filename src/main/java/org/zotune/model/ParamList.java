package org.zotune.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** Builds an architecture's fixed parameter order: each {@code add} returns the new parameter's index. */
public final class ParamList {
    private final List<ParamSpec> specs = new ArrayList<>();

    public int add(String name, ParamSpec.Role role, long... shape) {
        specs.add(new ParamSpec(name, shape, role));
        return specs.size() - 1;
    }

    /** Adds the parameter when {@code present}; returns its index, or -1. */
    public int addIf(boolean present, String name, ParamSpec.Role role, long... shape) {
        return present ? add(name, role, shape) : -1;
    }

    public List<ParamSpec> specs() {
        return Collections.unmodifiableList(new ArrayList<>(specs));
    }
}
