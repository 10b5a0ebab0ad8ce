package dev.ferry.service.libvirt;

import java.io.IOException;
import java.lang.foreign.AddressLayout;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * The calls of libvirt's C library ({@code libvirt.so.0}, Debian's libvirt0) that the libvirt
 * detector makes, through the JDK's foreign function API: no binding to build or ship, and the
 * library is looked for only when an agent is given a libvirt connection. Not an API of Ferry.
 */
final class Libvirt {
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    static final AddressLayout PTR = ValueLayout.ADDRESS;
    // virDomainEventID (libvirt-domain.h)
    static final int EVENT_ID_LIFECYCLE = 0, EVENT_ID_MIGRATION_ITERATION = 20;
    // virDomainJobType: VIR_DOMAIN_JOB_NONE, no job
    static final int JOB_NONE = 0;
    /** sizeof(virDomainJobInfo): an int, then eleven unsigned long longs. */
    static final long JOB_INFO_SIZE = 8 + 11 * 8;
    static final int UUID_STRING_BUFLEN = 37;

    private static final Linker LINKER = Linker.nativeLinker();
    private static volatile Libvirt loaded;

    final MethodHandle eventRegisterDefaultImpl, eventRunDefaultImpl, eventAddTimeout, eventRemoveTimeout, connectOpen, connectClose,
            connectSetKeepAlive, connectRegisterCloseCallback, connectDomainEventRegisterAny, domainGetUuidString,
            domainLookupByUuidString, domainGetJobInfo, domainGetState, domainFree, getLastErrorMessage, setErrorFunc;

    private Libvirt(SymbolLookup lib) {
        eventRegisterDefaultImpl = call(lib, "virEventRegisterDefaultImpl", FunctionDescriptor.of(INT));
        eventRunDefaultImpl = call(lib, "virEventRunDefaultImpl", FunctionDescriptor.of(INT));
        eventAddTimeout = call(lib, "virEventAddTimeout", FunctionDescriptor.of(INT, INT, PTR, PTR, PTR));
        eventRemoveTimeout = call(lib, "virEventRemoveTimeout", FunctionDescriptor.of(INT, INT));
        connectOpen = call(lib, "virConnectOpen", FunctionDescriptor.of(PTR, PTR));
        connectClose = call(lib, "virConnectClose", FunctionDescriptor.of(INT, PTR));
        connectSetKeepAlive = call(lib, "virConnectSetKeepAlive", FunctionDescriptor.of(INT, PTR, INT, INT));
        connectRegisterCloseCallback = call(lib, "virConnectRegisterCloseCallback", FunctionDescriptor.of(INT, PTR, PTR, PTR, PTR));
        connectDomainEventRegisterAny = call(lib, "virConnectDomainEventRegisterAny",
                FunctionDescriptor.of(INT, PTR, PTR, INT, PTR, PTR, PTR));
        domainGetUuidString = call(lib, "virDomainGetUUIDString", FunctionDescriptor.of(INT, PTR, PTR));
        domainLookupByUuidString = call(lib, "virDomainLookupByUUIDString", FunctionDescriptor.of(PTR, PTR, PTR));
        domainGetJobInfo = call(lib, "virDomainGetJobInfo", FunctionDescriptor.of(INT, PTR, PTR));
        domainGetState = call(lib, "virDomainGetState", FunctionDescriptor.of(INT, PTR, PTR, PTR, INT));
        domainFree = call(lib, "virDomainFree", FunctionDescriptor.of(INT, PTR));
        getLastErrorMessage = call(lib, "virGetLastErrorMessage", FunctionDescriptor.of(PTR));
        setErrorFunc = call(lib, "virSetErrorFunc", FunctionDescriptor.ofVoid(PTR, PTR));
    }

    /** The library, loaded once; an IOException saying what to install when it is not there. */
    static Libvirt load() throws IOException {
        Libvirt l = loaded;
        if (l != null) return l;
        synchronized (Libvirt.class) {
            if (loaded != null) return loaded;
            SymbolLookup lib;
            try {
                lib = SymbolLookup.libraryLookup("libvirt.so.0", Arena.global());
            } catch (IllegalArgumentException e) {
                throw new IOException("libvirt's library (libvirt.so.0) is not installed: apt-get install libvirt0");
            }
            loaded = new Libvirt(lib);
            return loaded;
        }
    }

    /** libvirt's message for the last failed call of this thread. */
    String lastError() {
        try {
            MemorySegment m = (MemorySegment) getLastErrorMessage.invokeExact();
            return m.equals(MemorySegment.NULL) ? "unknown error" : m.reinterpret(4096).getString(0);
        } catch (Throwable t) {
            return "unknown error (" + t + ")";
        }
    }

    /** A C function pointer to static method {@code name} of {@code owner}, for the life of {@code arena}. */
    static MemorySegment upcall(Class<?> owner, String name, FunctionDescriptor descriptor, Arena arena) {
        try {
            MethodType type = descriptor.toMethodType();
            MethodHandle target = MethodHandles.lookup().findStatic(owner, name, type);
            return LINKER.upcallStub(target, descriptor, arena);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    private static MethodHandle call(SymbolLookup lib, String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(lib.find(name).orElseThrow(() -> new IllegalStateException("libvirt has no " + name)), descriptor);
    }
}
